package org.openmrs.module.dormant;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.openmrs.User;
import org.openmrs.UserSessionListener.Event;
import org.openmrs.UserSessionListener.Status;

/**
 * What every end-to-end test of the hook starts from: a {@link FakeIngest} playing login-ingest, a
 * spool folder of its own, the settings OpenMRS admins would set (timings shortened so a test runs in
 * seconds), and a log to read back. The runner makes a fresh instance per test and closes it.
 */
abstract class HookFixture implements AutoCloseable {

	final Path tmp;

	final FakeIngest ingest;

	final MemoryLog log = new MemoryLog();

	/** The global properties, as GlobalPropertyConfigSource would read them; tests change them live. */
	final Map<String, String> settings = Collections.synchronizedMap(new HashMap<>());

	private final List<DormantHook> hooks = new ArrayList<>();

	HookFixture() throws IOException {
		tmp = Files.createTempDirectory("dormant-hook-test");
		ingest = new FakeIngest();
		settings.put(Config.INGEST_URL, ingest.url());
		settings.put(Config.TOKEN, FakeIngest.TOKEN);
		settings.put(Config.SITE, FakeIngest.SITE);
		settings.put(Config.SOURCE_URL, "https://emr.example.org/openmrs");
		settings.put(Config.SPOOL_DIR, spoolDir().toString());
		settings.put(Config.BATCH_WAIT_MS, "20");
		settings.put(Config.RETRY_BASE_MS, "10");
		settings.put(Config.RETRY_MAX_MS, "100");
		settings.put(Config.MAX_ATTEMPTS, "3");
		settings.put(Config.AUTH_RETRY_MS, "200");
		settings.put(Config.CONNECT_TIMEOUT_MS, "500");
		settings.put(Config.REQUEST_TIMEOUT_MS, "2000");
		settings.put(Config.STATS_LOG_MS, "1000");
	}

	Path spoolDir() {
		return tmp.resolve("spool");
	}

	/** A hook with its dispatcher running on the current settings (read live, as in OpenMRS). */
	DormantHook startHook() {
		DormantHook h = new DormantHook(DormantHook.DEFAULT_QUEUE_CAPACITY);
		hooks.add(h);
		h.start(settings::get, log);
		return h;
	}

	/** A hook that is never started: nothing drains its queue. */
	DormantHook idleHook(int capacity) {
		return new DormantHook(capacity);
	}

	static User user(String uuid, String username, String systemId) {
		User u = new User();
		if (uuid != null) {
			u.setUuid(uuid);
		}
		u.setUsername(username);
		u.setSystemId(systemId);
		return u;
	}

	/** A successful login of a saved user, through the listener exactly as OpenMRS calls it. */
	static void login(DormantHook h, String username) {
		new DormantSessionListener(h).loggedInOrOut(user(UUID.randomUUID().toString(), username, username + "-sys"),
		    Event.LOGIN, Status.SUCCESS);
	}

	static void logins(DormantHook h, List<String> usernames) {
		for (String n : usernames) {
			login(h, n);
		}
	}

	/** prefix000, prefix001, ... for i in [from, to): sortable, so order checks read well. */
	static List<String> names(String prefix, int from, int to) {
		List<String> out = new ArrayList<>();
		for (int i = from; i < to; i++) {
			out.add(String.format("%s%03d", prefix, i));
		}
		return out;
	}

	static Map<String, Object> data(Map<String, Object> event) {
		return MiniJson.obj(event.get("data"));
	}

	static List<String> usernames(List<Map<String, Object>> events) {
		return events.stream().map(e -> (String) data(e).get("username")).collect(Collectors.toList());
	}

	static List<Object> ids(List<Map<String, Object>> events) {
		return events.stream().map(e -> e.get("id")).collect(Collectors.toList());
	}

	/** The events of each request, by count: "[5,2,3]". */
	String sizes() {
		return ingest.requests().stream().map(r -> String.valueOf(r.size())).collect(Collectors.joining(",", "[", "]"));
	}

	List<Path> segments() {
		if (!Files.isDirectory(spoolDir())) {
			return Collections.emptyList();
		}
		try (Stream<Path> s = Files.list(spoolDir())) {
			return s.filter(p -> p.getFileName().toString().startsWith("seg-")).sorted().collect(Collectors.toList());
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	long segmentBytes() {
		return segments().stream().mapToLong(p -> p.toFile().length()).sum();
	}

	static long ms(long fromNanos, long toNanos) {
		return (toNanos - fromNanos) / 1_000_000;
	}

	@Override
	public void close() throws IOException {
		for (DormantHook h : hooks) {
			try {
				h.stop(2000);
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
		}
		ingest.close();
		try (Stream<Path> s = Files.walk(tmp)) {
			s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
		}
	}
}
