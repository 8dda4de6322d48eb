package org.openmrs.module.dormant;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The dormant.* global properties: read on the dispatcher's thread, validated with messages naming
 * the property, re-read while running, and never a reason for a login to fail.
 */
public class ConfigTest extends HookFixture {

	public ConfigTest() throws IOException {
		super();
	}

	public void testMissingSettingsKeepEventsUntilConfigured() {
		settings.remove(Config.INGEST_URL);
		settings.remove(Config.TOKEN);
		settings.remove(Config.SITE);
		settings.put(Config.CONFIG_REFRESH_MS, "50");
		DormantHook h = startHook();
		logins(h, names("u", 0, 10));
		Check.eventually(5000, "kept in the spool", () -> h.counters().spooled == 10, h.counters());
		for (String name : new String[] { Config.INGEST_URL, Config.TOKEN, Config.SITE }) {
			Check.isTrue(log.contains("ERROR", name + " is not set"), "the missing " + name + " is logged:\n" + log);
		}
		Check.equal(0, ingest.requests().size(), "nothing sent without settings");
		settings.put(Config.INGEST_URL, ingest.url());
		settings.put(Config.TOKEN, FakeIngest.TOKEN);
		settings.put(Config.SITE, FakeIngest.SITE);
		Check.eventually(5000, "sent once configured", () -> h.counters().replayed == 10, h.counters());
		Check.equal(names("u", 0, 10), usernames(ingest.accepted()), "in order");
		Check.equal(FakeIngest.SITE, ingest.accepted().get(0).get("site"), "the site in force when sent");
	}

	public void testUnreadableSettingsHoldEventsInMemory() throws Exception {
		AtomicBoolean starting = new AtomicBoolean(true);
		DormantHook h = new DormantHook(DormantHook.DEFAULT_QUEUE_CAPACITY);
		h.start(name -> {
			if (starting.get()) {
				throw new IllegalStateException("OpenMRS is still starting");
			}
			return settings.get(name);
		}, log);
		try {
			logins(h, names("u", 0, 10));
			Check.equal(10L, h.counters().queued, "queued");
			Check.eventually(5000, "logged", () -> log.contains("WARN", "OpenMRS is still starting"), log);
			Thread.sleep(100);
			Check.equal(10, h.queue.size(), "held in memory until the settings can be read");
			starting.set(false);
			Check.eventually(5000, "sent once readable", () -> h.counters().sent == 10, h.counters());
		}
		finally {
			h.stop(2000);
		}
	}

	public void testValidationNamesTheProperty() throws Exception {
		Map<String, String> m = new HashMap<>(settings);
		Config ok = Config.load(m::get);
		Check.isTrue(ok.complete(), "the test settings are complete: " + ok.problems);
		Check.equal(List.of(), ok.notes, "and need no notes");

		String[][] cases = { // setting, value, problem expected (a part of it)
		        { Config.SITE, "Site A", "dormant.site must match" },
		        { Config.SITE, "x".repeat(41), "dormant.site must match" },
		        { Config.INGEST_URL, "ftp://x/", "dormant.ingestUrl must be an http(s) URL" },
		        { Config.INGEST_URL, "http://", "dormant.ingestUrl" },
		        { Config.INGEST_URL, "not a url", "dormant.ingestUrl" },
		        { Config.TOKEN, "  ", "dormant.token is not set" }, };
		for (String[] c : cases) {
			Map<String, String> bad = new HashMap<>(m);
			bad.put(c[0], c[1]);
			Config cfg = Config.load(bad::get);
			Check.isTrue(!cfg.complete(), c[0] + "=" + c[1] + " is a problem");
			Check.equal(1, cfg.problems.size(), "one problem for " + c[0] + "=" + c[1] + ": " + cfg.problems);
			Check.isTrue(cfg.problems.get(0).contains(c[2]), "the problem names the setting: " + cfg.problems);
		}

		String[][] numbers = { // setting, bad value, the default it falls back to
		        { Config.BATCH_SIZE, "lots", "100" }, { Config.BATCH_SIZE, "0", "100" },
		        { Config.BATCH_SIZE, "10001", "100" },
		        { Config.QUEUE_CAPACITY, "-1", "10000" }, { Config.SPOOL_MAX_BYTES, "1023", "67108864" },
		        { Config.MAX_ATTEMPTS, "1.5", "4" }, };
		for (String[] c : numbers) {
			Map<String, String> bad = new HashMap<>(m);
			bad.put(c[0], c[1]);
			Config cfg = Config.load(bad::get);
			Check.isTrue(cfg.complete(), "a bad number is not fatal: " + cfg.problems);
			Check.equal(1, cfg.notes.size(), "noted: " + cfg.notes);
			Check.isTrue(cfg.notes.get(0).startsWith(c[0] + "=" + c[1] + " is not a number"), "note: " + cfg.notes);
			Check.isTrue(cfg.notes.get(0).endsWith("using " + c[2]), "falls back to the default: " + cfg.notes);
		}
		m.put(Config.BATCH_SIZE, " 7 ");
		Check.equal(7, Config.load(m::get).batchSize, "spaces around a number are fine");
		m.remove(Config.SOURCE_URL);
		Check.isTrue(Config.load(m::get).source.matches("openmrs://[a-z0-9.-]+"), "default source openmrs://host");
	}

	public void testBadNumbersAreLoggedAndDefaulted() {
		settings.put(Config.BATCH_SIZE, "lots");
		DormantHook h = startHook();
		login(h, "u");
		Check.eventually(5000, "sent anyway", () -> h.counters().sent == 1, h.counters());
		Check.isTrue(log.contains("WARN", "dormant.batchSize=lots is not a number from 1 to 10000; using 100"),
		    "the ignored value is logged:\n" + log);
	}

	public void testEverySettingIsDeclaredInConfigXml() throws Exception {
		// OpenMRS shows admins the global properties config.xml declares; Config reads Config.ALL.
		String xml = new String(Files.readAllBytes(Paths.get("src/main/resources/config.xml")), StandardCharsets.UTF_8);
		List<String> declared = new ArrayList<>();
		Matcher mt = Pattern.compile("<property>([^<]+)</property>").matcher(xml);
		while (mt.find()) {
			declared.add(mt.group(1));
		}
		Check.isTrue(!declared.isEmpty(), "config.xml declares global properties");
		for (String d : declared) {
			Check.isTrue(Config.ALL.contains(d), d + " is declared in config.xml but never read");
		}
		for (String required : new String[] { Config.INGEST_URL, Config.TOKEN, Config.SITE, Config.SPOOL_DIR }) {
			Check.isTrue(declared.contains(required), required + " is read but not declared in config.xml");
		}
	}
}
