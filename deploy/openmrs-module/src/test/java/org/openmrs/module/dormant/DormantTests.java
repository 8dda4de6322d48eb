package org.openmrs.module.dormant;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.openmrs.User;
import org.openmrs.UserSessionListener.Event;
import org.openmrs.UserSessionListener.Status;

/**
 * The hook against a real HTTP server (FakeIngest) on 127.0.0.1. Timings are shortened through the
 * same settings OpenMRS admins could set, so the whole class runs in seconds.
 */
public class DormantTests implements AutoCloseable {

	private static final Pattern UUID_RE = Pattern
	        .compile("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");

	private static final Pattern RFC3339_MILLIS_UTC = Pattern
	        .compile("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$");

	private final List<AutoCloseable> cleanup = new ArrayList<>();

	private final List<DormantHook> hooks = new ArrayList<>();

	private final Path tmp;

	final TestLog log = new TestLog();

	public DormantTests() throws IOException {
		tmp = Files.createTempDirectory("dormant-test");
	}

	// ---------------------------------------------------------------- tests

	public void testBatchIsDeliveredWithHeadersAndCloudEventShape() throws Exception {
		FakeIngest srv = server();
		Map<String, String> cfg = config(srv.url());
		cfg.put(Config.BATCH_SIZE, "3");
		cfg.put(Config.BATCH_WAIT_MS, "200");
		DormantHook hook = started(cfg);
		DormantSessionListener l = new DormantSessionListener(hook);
		String[] uuids = { uuid(), uuid(), uuid(), uuid() };
		l.loggedInOrOut(user("alice", "1-8", uuids[0]), Event.LOGIN, Status.SUCCESS);
		l.loggedInOrOut(user("bob", null, uuids[1]), Event.LOGIN, Status.SUCCESS);
		l.loggedInOrOut(user("carol", "3-4", uuids[2]), Event.LOGIN, Status.SUCCESS);
		l.loggedInOrOut(user("alice", "1-8", uuids[0]), Event.LOGOUT, Status.SUCCESS);
		await("4 sent", () -> hook.counters().sent == 4);

		check(srv.requests.size() == 2, "a full batch of 3, then the 4th after the batch wait: " + sizes(srv));
		check(srv.requests.get(0).events.size() == 3, "first batch has 3 events: " + sizes(srv));
		for (FakeIngest.Request r : srv.requests) {
			eq("POST", r.headers.get(":method"), "method");
			eq("application/cloudevents-batch+json", r.headers.get("content-type"), "content type");
			eq("Bearer s3cret-token", r.headers.get("authorization"), "authorization");
		}
		List<Map<String, Object>> evs = srv.delivered();
		Set<Object> ids = new HashSet<>();
		String[] names = { "alice", "bob", "carol", "alice" };
		for (int i = 0; i < 4; i++) {
			Map<String, Object> e = evs.get(i);
			eq(new LinkedHashSet<>(Arrays.asList("specversion", "id", "source", "type", "subject", "time",
			    "datacontenttype", "dataschema", "site", "data")), e.keySet(), "attributes of event " + i);
			eq("1.0", e.get("specversion"), "specversion");
			check(UUID_RE.matcher((String) e.get("id")).matches(), "id is a UUID: " + e.get("id"));
			ids.add(e.get("id"));
			eq("https://emr.example.org/openmrs", e.get("source"), "source");
			eq("org.openmrs.user.session", e.get("type"), "type");
			String want = uuids[i == 3 ? 0 : i]; // the 4th event is alice logging out
			eq(want, e.get("subject"), "subject is the user uuid");
			check(RFC3339_MILLIS_UTC.matcher((String) e.get("time")).matches(), "time: " + e.get("time"));
			eq("application/json", e.get("datacontenttype"), "datacontenttype");
			eq("https://dormant.dev/schemas/v1/user-session.json", e.get("dataschema"), "dataschema");
			eq("clinic-a", e.get("site"), "site");
			@SuppressWarnings("unchecked")
			Map<String, Object> d = (Map<String, Object>) e.get("data");
			eq(i == 3 ? "logout" : "login", d.get("event"), "data.event");
			eq("success", d.get("status"), "data.status");
			eq(want, d.get("user_uuid"), "data.user_uuid");
			eq(names[i], d.get("username"), "data.username");
			eq(e.get("time"), d.get("occurred_at"), "occurred_at equals time");
			eq("form", d.get("method"), "data.method");
			if (i == 1) {
				check(!d.containsKey("system_id"), "a null system id is left out: " + d);
			} else {
				eq(i == 2 ? "3-4" : "1-8", d.get("system_id"), "data.system_id");
			}
		}
		eq(4, ids.size(), "distinct ids");
		Counters.Snapshot s = hook.counters();
		check(s.queued == 4 && s.dropped == 0 && s.spooled == 0 && s.failed == 0, "counters " + s);
	}

	public void testFailuresCarryNoUserUuidNorSubject() throws Exception {
		FakeIngest srv = server();
		DormantHook hook = started(config(srv.url()));
		DormantSessionListener l = new DormantSessionListener(hook);
		// What OpenMRS passes on a failure: new User() with the typed name; its uuid is random.
		User typed = new User();
		typed.setUsername("admn");
		l.loggedInOrOut(typed, Event.LOGIN, Status.FAIL);
		l.loggedInOrOut(typed, Event.LOGOUT, Status.FAIL);
		// A user with only a system id logs in with it; the schema requires a username.
		l.loggedInOrOut(user(null, "7-2", uuid()), Event.LOGIN, Status.SUCCESS);
		// A typed name longer than any real one (50) is cut, by code points, not dropped.
		String longName = "x".repeat(49) + "\uD83D\uDE00" + "tail";
		l.loggedInOrOut(user(longName, null, "not-a-uuid"), Event.LOGIN, Status.FAIL);
		await("4 sent", () -> hook.counters().sent == 4);
		List<Map<String, Object>> evs = srv.delivered();
		for (int i : new int[] { 0, 1, 3 }) {
			Map<String, Object> e = evs.get(i);
			Map<String, Object> d = data(e);
			check(!e.containsKey("subject"), "no subject on a failure: " + e);
			check(!d.containsKey("user_uuid"), "no user_uuid on a failure: " + d);
			eq("failure", d.get("status"), "status");
		}
		eq("admn", data(evs.get(0)).get("username"), "typed username");
		eq("logout", data(evs.get(1)).get("event"), "event");
		eq("7-2", data(evs.get(2)).get("username"), "system id stands in for a missing username");
		String cut = (String) data(evs.get(3)).get("username");
		eq(50, cut.codePointCount(0, cut.length()), "username cut to 50 code points");
		check(cut.endsWith("\uD83D\uDE00"), "the cut keeps the emoji whole");
	}

	public void testOutageSpoolsThenReplaysInOrderWithNothingLost() throws Exception {
		int port = FakeIngest.freePort();
		Map<String, String> cfg = config(FakeIngest.url(port));
		cfg.put(Config.BATCH_SIZE, "50");
		DormantHook hook = started(cfg);
		List<String> names = new ArrayList<>();
		for (int i = 0; i < 250; i++) {
			names.add(String.format("u%03d", i));
			hook.record(user(names.get(i), null, uuid()), Event.LOGIN, Status.SUCCESS);
		}
		await("all 250 spooled", () -> hook.counters().spooled == 250);
		check(!spoolFiles().isEmpty(), "spool files exist");
		FakeIngest srv = FakeIngest.startOn(port);
		cleanup.add(srv);
		await("all 250 replayed", () -> hook.counters().replayed == 250);
		eq(names, usernames(srv.delivered()), "replayed in order, none lost, none twice");
		Counters.Snapshot s = hook.counters();
		check(s.sent == 0 && s.dropped == 0 && s.failed == 0, "counters " + s);
		await("spool emptied", () -> spoolFiles().stream().noneMatch(p -> p.getFileName().toString().startsWith("seg-")));
		check(log.contains("keeping 50 events in the spool"), "the outage is logged");
	}

	public void testServerErrorIsRetriedThenSucceeds() throws Exception {
		FakeIngest srv = server();
		srv.handler = r -> srv.requests.size() == 1 ? new FakeIngest.Reply(500, "{\"error\":\"boom\"}")
		        : new FakeIngest.Reply(202, "{\"accepted\":" + r.events.size() + "}");
		Map<String, String> cfg = config(srv.url());
		cfg.put(Config.BATCH_SIZE, "5");
		DormantHook hook = started(cfg);
		for (int i = 0; i < 5; i++) {
			hook.record(user("n" + i, null, uuid()), Event.LOGIN, Status.SUCCESS);
		}
		await("5 sent", () -> hook.counters().sent == 5);
		eq(2, srv.requests.size(), "one failed try, one retry");
		eq(ids(srv.requests.get(0)), ids(srv.requests.get(1)), "the retry resends the same event ids");
		eq(0L, hook.counters().spooled, "nothing spooled");
	}

	public void testBadRequestIsNotRetried() throws Exception {
		FakeIngest srv = server();
		srv.handler = r -> srv.requests.size() == 1
		        ? new FakeIngest.Reply(400,
		                "{\"accepted\":2,\"rejected\":[{\"index\":1,\"reason\":\"invalid_data\",\"problem\":\"bad\"}],\"error\":\"1 of 3 events refused\"}")
		        : new FakeIngest.Reply(202, "{\"accepted\":" + r.events.size() + "}");
		Map<String, String> cfg = config(srv.url());
		cfg.put(Config.BATCH_SIZE, "3");
		DormantHook hook = started(cfg);
		for (int i = 0; i < 3; i++) {
			hook.record(user("n" + i, null, uuid()), Event.LOGIN, Status.SUCCESS);
		}
		await("400 handled", () -> hook.counters().failed == 1);
		Thread.sleep(300); // several retry periods (retryBaseMs=20): a retry would have happened by now
		eq(1, srv.requests.size(), "the refused batch is not resent");
		hook.record(user("later", null, uuid()), Event.LOGIN, Status.SUCCESS);
		await("later event sent", () -> hook.counters().sent == 3);
		eq(2, srv.requests.size(), "only the later event was sent next");
		eq(Collections.singletonList("later"), usernames(srv.delivered()), "later event");
		check(log.contains("1 of 3 events refused"), "the response body is logged: " + log.lines);
		eq(0L, hook.counters().spooled, "nothing spooled");
	}

	public void testTooLargeSplitsTheBatch() throws Exception {
		FakeIngest srv = server();
		srv.handler = r -> r.events.size() > 2 ? new FakeIngest.Reply(413, "{\"error\":\"too large\"}")
		        : new FakeIngest.Reply(202, "{\"accepted\":" + r.events.size() + "}");
		Map<String, String> cfg = config(srv.url());
		cfg.put(Config.BATCH_SIZE, "5");
		DormantHook hook = started(cfg);
		List<String> names = Arrays.asList("a", "b", "c", "d", "e");
		for (String n : names) {
			hook.record(user(n, null, uuid()), Event.LOGIN, Status.SUCCESS);
		}
		await("5 sent", () -> hook.counters().sent == 5);
		eq(names, usernames(srv.delivered()), "every event once, in order");
		eq(5, srv.requests.get(0).events.size(), "first try is the whole batch");
		check(srv.requests.size() >= 4, "split into smaller requests: " + sizes(srv));
		eq(0L, hook.counters().failed + hook.counters().spooled, "nothing failed or spooled");
	}

	public void testQueueOverflowDropsCountsAndNeverSlowsOrThrows() throws Exception {
		// No dispatcher at all: nothing drains the queue, the worst case for the login thread.
		DormantHook hook = new DormantHook(100);
		DormantSessionListener l = new DormantSessionListener(hook);
		User u = user("alice", "1-8", uuid());
		for (int i = 0; i < 1000; i++) { // warm up the JIT so the timing measures the steady state
			l.loggedInOrOut(u, Event.LOGIN, Status.SUCCESS);
		}
		DormantHook fresh = new DormantHook(100);
		DormantSessionListener l2 = new DormantSessionListener(fresh);
		long t0 = System.nanoTime();
		for (int i = 0; i < 10_000; i++) {
			l2.loggedInOrOut(u, Event.LOGIN, Status.SUCCESS);
		}
		long us = (System.nanoTime() - t0) / 1_000;
		System.out.println("  measured: 10,000 loggedInOrOut calls with a full queue took " + us + " us");
		check(us < 500_000, "10,000 calls took " + us + " us");
		Counters.Snapshot s = fresh.counters();
		eq(100L, s.queued, "queued up to capacity");
		eq(9_900L, s.dropped, "the rest dropped and counted");
		// Whatever OpenMRS passes, nothing escapes into the login.
		l2.loggedInOrOut(null, Event.LOGIN, Status.SUCCESS);
		l2.loggedInOrOut(u, null, Status.SUCCESS);
		l2.loggedInOrOut(u, Event.LOGIN, null);
		l2.loggedInOrOut(new User() {

			@Override
			public String getUsername() {
				throw new IllegalStateException("lazy init failed");
			}
		}, Event.LOGIN, Status.SUCCESS);
		new DormantSessionListener(null).loggedInOrOut(u, Event.LOGIN, Status.SUCCESS);
		eq(9_904L, fresh.counters().dropped, "bad calls are counted as dropped");
	}

	public void testMissingConfigKeepsEventsUntilConfigured() throws Exception {
		FakeIngest srv = server();
		Map<String, String> cfg = new ConcurrentHashMap<>();
		cfg.put(Config.SPOOL_DIR, tmp.resolve("spool").toString());
		cfg.put(Config.CONFIG_REFRESH_MS, "50");
		cfg.put(Config.BATCH_WAIT_MS, "20");
		DormantHook hook = started(cfg);
		DormantSessionListener l = new DormantSessionListener(hook);
		for (int i = 0; i < 5; i++) {
			l.loggedInOrOut(user("early" + i, null, uuid()), Event.LOGIN, Status.SUCCESS);
		}
		await("kept in the spool", () -> hook.counters().spooled == 5);
		check(log.contains("dormant.ingestUrl is not set"), "the missing setting is logged loudly: " + log.lines);
		eq(0, srv.requests.size(), "nothing sent without settings");
		cfg.putAll(config(srv.url()));
		await("replayed once configured", () -> hook.counters().replayed == 5);
		eq(Arrays.asList("early0", "early1", "early2", "early3", "early4"), usernames(srv.delivered()), "order");
	}

	public void testJsonEscapingOfOddUsernames() throws Exception {
		FakeIngest srv = server();
		DormantHook hook = started(config(srv.url()));
		List<String> names = Arrays.asList("quo\"te", "back\\slash", "tab\there\nnl\r", "ctl\u0001\u001f\u007f",
		    "Zoë 日本 \uD83D\uDE00", "</script>'&", "\u2028sep");
		for (String n : names) {
			hook.record(user(n, n, uuid()), Event.LOGIN, Status.SUCCESS);
		}
		await("all sent", () -> hook.counters().sent == names.size());
		eq(names, usernames(srv.delivered()), "usernames survive the round trip");
		String body = srv.requests.stream().map(r -> r.body).collect(Collectors.joining());
		check(body.contains("ctl\\u0001\\u001f"), "control characters as \\u00XX: " + body);
		check(body.contains("tab\\u0009here\\u000anl\\u000d"), "tab/newline as \\u00XX");
		check(body.contains("quo\\\"te") && body.contains("back\\\\slash"), "quote and backslash escaped");
		check(body.contains("Zoë 日本 \uD83D\uDE00"), "non-ASCII kept as UTF-8, not escaped");
		StringBuilder sb = new StringBuilder();
		Json.string(sb, "a\uD800b\uDC00");
		eq("\"a\uFFFDb\uFFFD\"", sb.toString(), "unpaired surrogates become U+FFFD");
	}

	public void testSpoolSurvivesRestartAndSkipsATornLine() throws Exception {
		int port = FakeIngest.freePort();
		Map<String, String> cfg = config(FakeIngest.url(port));
		DormantHook first = started(cfg);
		List<String> names = new ArrayList<>();
		for (int i = 0; i < 20; i++) {
			names.add("r" + i);
			first.record(user("r" + i, null, uuid()), Event.LOGIN, Status.SUCCESS);
		}
		await("spooled", () -> first.counters().spooled == 20);
		check(first.stop(5000), "first dispatcher stopped");
		// A crash in the middle of a write leaves an unterminated line at the end.
		List<Path> segs = spoolFiles().stream().filter(p -> p.getFileName().toString().startsWith("seg-")).sorted()
		        .collect(Collectors.toList());
		check(!segs.isEmpty(), "spool on disk after stop");
		Files.write(segs.get(segs.size() - 1), "{\"v\":\"1\",\"id\":\"torn".getBytes(StandardCharsets.UTF_8),
		    StandardOpenOption.APPEND);

		FakeIngest srv = FakeIngest.startOn(port);
		cleanup.add(srv);
		DormantHook second = started(cfg);
		second.record(user("after-restart", null, uuid()), Event.LOGIN, Status.SUCCESS);
		await("replayed after restart", () -> second.counters().replayed == 21);
		List<String> want = new ArrayList<>(names);
		want.add("after-restart");
		eq(want, usernames(srv.delivered()), "old events first, the torn line skipped, the new one after");
		eq(1L, second.counters().failed, "the torn line is counted");
	}

	public void testUnauthorizedIsLoggedSpooledAndRetriedSlowly() throws Exception {
		FakeIngest srv = server();
		srv.handler = r -> new FakeIngest.Reply(401, "{\"error\":\"the bearer token is not valid for any site\"}");
		Map<String, String> cfg = config(srv.url());
		cfg.put(Config.AUTH_RETRY_MS, "400");
		DormantHook hook = started(cfg);
		for (int i = 0; i < 3; i++) {
			hook.record(user("n" + i, null, uuid()), Event.LOGIN, Status.SUCCESS);
		}
		await("spooled", () -> hook.counters().spooled == 3);
		check(log.contains("refused the hook") && log.contains("not valid for any site"), "logged: " + log.lines);
		Thread.sleep(1000);
		int tries = srv.requests.size();
		check(tries >= 2 && tries <= 4, "retried about every 400 ms, not in a tight loop: " + tries + " requests");
		srv.handler = r -> new FakeIngest.Reply(202, "{\"accepted\":" + r.events.size() + "}");
		await("replayed", () -> hook.counters().replayed == 3);
	}

	public void testRetryAfterIsHonoured() throws Exception {
		FakeIngest srv = server();
		srv.handler = r -> srv.requests.size() == 1
		        ? new FakeIngest.Reply(429, "{\"error\":\"slow down\"}").header("Retry-After", "1")
		        : new FakeIngest.Reply(202, "{\"accepted\":" + r.events.size() + "}");
		Map<String, String> cfg = config(srv.url());
		cfg.put(Config.RETRY_MAX_MS, "5000"); // a Retry-After within this is waited out in memory
		DormantHook hook = started(cfg);
		hook.record(user("a", null, uuid()), Event.LOGIN, Status.SUCCESS);
		await("sent", () -> hook.counters().sent == 1);
		eq(0L, hook.counters().spooled, "not spooled");
		long gapMs = (srv.requests.get(1).atNanos - srv.requests.get(0).atNanos) / 1_000_000;
		check(gapMs >= 950, "waited for Retry-After: 1 s, not retryBaseMs=20: " + gapMs + " ms");

		// A Retry-After longer than retryMaxMs: the batch goes to the spool, replayed no sooner.
		FakeIngest srv2 = server();
		srv2.handler = r -> srv2.requests.size() == 1
		        ? new FakeIngest.Reply(503, "{\"error\":\"busy\"}").header("Retry-After", "1")
		        : new FakeIngest.Reply(202, "{\"accepted\":" + r.events.size() + "}");
		Map<String, String> cfg2 = config(srv2.url());
		cfg2.put(Config.SPOOL_DIR, tmp.resolve("spool2").toString());
		DormantHook h2 = started(cfg2);
		h2.record(user("b", null, uuid()), Event.LOGIN, Status.SUCCESS);
		await("replayed", () -> h2.counters().replayed == 1);
		eq(1L, h2.counters().spooled, "spooled rather than held in memory");
		long gap2 = (srv2.requests.get(1).atNanos - srv2.requests.get(0).atNanos) / 1_000_000;
		check(gap2 >= 950, "replay waited for Retry-After: " + gap2 + " ms");
	}

	public void testStopFlushesWithinTheDeadline() throws Exception {
		FakeIngest srv = server();
		Map<String, String> cfg = config(srv.url());
		cfg.put(Config.BATCH_WAIT_MS, "60000"); // events would otherwise wait a minute for a batch
		DormantHook hook = started(cfg);
		for (int i = 0; i < 5; i++) {
			hook.record(user("s" + i, null, uuid()), Event.LOGIN, Status.SUCCESS);
		}
		Thread.sleep(100);
		eq(0, srv.requests.size(), "still waiting for a batch");
		long t0 = System.nanoTime();
		check(hook.stop(3000), "stopped in time");
		long ms = (System.nanoTime() - t0) / 1_000_000;
		check(ms < 2000, "flush took " + ms + " ms");
		eq(5L, hook.counters().sent, "flushed on stop");

		// Down at shutdown: spooled instead, still within the deadline.
		int port = FakeIngest.freePort();
		Map<String, String> down = config(FakeIngest.url(port));
		down.put(Config.SPOOL_DIR, tmp.resolve("spool2").toString());
		down.put(Config.BATCH_WAIT_MS, "60000");
		DormantHook h2 = started(down);
		for (int i = 0; i < 5; i++) {
			h2.record(user("s" + i, null, uuid()), Event.LOGIN, Status.SUCCESS);
		}
		Thread.sleep(100);
		check(h2.stop(3000), "stopped in time");
		eq(5L, h2.counters().spooled, "spooled on stop");
	}

	public void testFullSpoolDropsTheOldestAndCountsThem() throws Exception {
		int port = FakeIngest.freePort();
		Map<String, String> cfg = config(FakeIngest.url(port));
		cfg.put(Config.SPOOL_MAX_BYTES, "16384");
		cfg.put(Config.BATCH_SIZE, "10");
		DormantHook hook = started(cfg);
		int n = 400;
		for (int i = 0; i < n; i++) {
			hook.record(user(String.format("f%03d", i), null, uuid()), Event.LOGIN, Status.SUCCESS);
		}
		await("all spooled or dropped", () -> hook.counters().spooled == n && hook.counters().dropped > 0);
		long bytes = 0;
		for (Path p : spoolFiles()) {
			bytes += Files.size(p);
		}
		check(bytes <= 16384 + 64, "spool stays within dormant.spoolMaxBytes: " + bytes);
		FakeIngest srv = FakeIngest.startOn(port);
		cleanup.add(srv);
		long dropped = hook.counters().dropped;
		await("rest replayed", () -> hook.counters().replayed == n - dropped);
		List<String> got = usernames(srv.delivered());
		eq(String.format("f%03d", n - 1), got.get(got.size() - 1), "the newest events are kept");
		check(!got.contains("f000"), "the oldest were dropped");
		check(log.contains("dropped its oldest"), "dropping is logged");
	}

	// ---------------------------------------------------------------- helpers

	private FakeIngest server() throws IOException {
		FakeIngest s = FakeIngest.start();
		cleanup.add(s);
		return s;
	}

	private Map<String, String> config(String url) {
		Map<String, String> m = new ConcurrentHashMap<>();
		m.put(Config.INGEST_URL, url);
		m.put(Config.TOKEN, "s3cret-token");
		m.put(Config.SITE, "clinic-a");
		m.put(Config.SOURCE_URL, "https://emr.example.org/openmrs");
		m.put(Config.SPOOL_DIR, tmp.resolve("spool").toString());
		m.put(Config.BATCH_WAIT_MS, "50");
		m.put(Config.RETRY_BASE_MS, "20");
		m.put(Config.RETRY_MAX_MS, "200");
		m.put(Config.MAX_ATTEMPTS, "2");
		m.put(Config.CONNECT_TIMEOUT_MS, "500");
		m.put(Config.REQUEST_TIMEOUT_MS, "2000");
		m.put(Config.AUTH_RETRY_MS, "200");
		m.put(Config.STATS_LOG_MS, "1000");
		return m;
	}

	private DormantHook started(Map<String, String> cfg) {
		DormantHook h = new DormantHook(DormantHook.DEFAULT_QUEUE_CAPACITY);
		h.start(cfg::get, log);
		hooks.add(h);
		return h;
	}

	private List<Path> spoolFiles() {
		Path dir = tmp.resolve("spool");
		if (!Files.isDirectory(dir)) {
			return Collections.emptyList();
		}
		try (Stream<Path> s = Files.list(dir)) {
			return s.filter(p -> p.getFileName().toString().endsWith(".jsonl")).collect(Collectors.toList());
		}
		catch (IOException e) {
			throw new java.io.UncheckedIOException(e);
		}
	}

	private static User user(String username, String systemId, String uuid) {
		User u = new User();
		u.setUsername(username);
		u.setSystemId(systemId);
		u.setUuid(uuid);
		return u;
	}

	private static String uuid() {
		return java.util.UUID.randomUUID().toString();
	}

	@SuppressWarnings("unchecked")
	private static Map<String, Object> data(Map<String, Object> e) {
		return (Map<String, Object>) e.get("data");
	}

	private static List<String> usernames(List<Map<String, Object>> evs) {
		return evs.stream().map(e -> (String) data(e).get("username")).collect(Collectors.toList());
	}

	private static List<Object> ids(FakeIngest.Request r) {
		List<Object> out = new ArrayList<>();
		for (int i = 0; i < r.events.size(); i++) {
			out.add(r.event(i).get("id"));
		}
		return out;
	}

	private static String sizes(FakeIngest srv) {
		synchronized (srv.requests) {
			return srv.requests.stream().map(r -> r.events == null ? "?" : String.valueOf(r.events.size()))
			        .collect(Collectors.joining(",", "[", "]"));
		}
	}

	private static void await(String what, BooleanSupplier cond) throws InterruptedException {
		long deadline = System.nanoTime() + 15_000_000_000L;
		while (!cond.getAsBoolean()) {
			if (System.nanoTime() > deadline) {
				throw new AssertionError("timed out waiting for: " + what);
			}
			Thread.sleep(10);
		}
	}

	private static void check(boolean ok, String msg) {
		if (!ok) {
			throw new AssertionError(msg);
		}
	}

	private static void eq(Object want, Object got, String msg) {
		if (want == null ? got != null : !want.equals(got)) {
			throw new AssertionError(msg + ": want <" + want + "> got <" + got + ">");
		}
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
		for (AutoCloseable c : cleanup) {
			try {
				c.close();
			}
			catch (Exception e) {
				throw new IOException(e);
			}
		}
		try (Stream<Path> s = Files.walk(tmp)) {
			s.sorted(Collections.reverseOrder()).forEach(p -> p.toFile().delete());
		}
	}

	/** Keeps what the hook logged so tests can check it said the right thing. */
	static final class TestLog implements Log {

		final List<String> lines = Collections.synchronizedList(new ArrayList<>());

		private final boolean echo = System.getenv("DORMANT_TEST_VERBOSE") != null;

		private void add(String level, String msg, Throwable t) {
			String line = level + " " + msg + (t == null ? "" : " " + t);
			lines.add(line);
			if (echo) {
				System.out.println("    log: " + line);
			}
		}

		@Override
		public void info(String msg) {
			add("INFO", msg, null);
		}

		@Override
		public void warn(String msg) {
			add("WARN", msg, null);
		}

		@Override
		public void error(String msg, Throwable t) {
			add("ERROR", msg, t);
		}

		boolean contains(String s) {
			synchronized (lines) {
				return lines.stream().anyMatch(l -> l.contains(s));
			}
		}
	}
}
