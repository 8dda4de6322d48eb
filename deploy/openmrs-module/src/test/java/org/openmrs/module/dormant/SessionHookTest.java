package org.openmrs.module.dormant;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import org.openmrs.User;
import org.openmrs.UserSessionListener;
import org.openmrs.UserSessionListener.Event;
import org.openmrs.UserSessionListener.Status;

/**
 * The hook end to end: the listener as OpenMRS calls it, the queue, the dispatcher thread, the
 * spool on a real disk and a real HTTP server playing login-ingest.
 */
public class SessionHookTest implements AutoCloseable {

	private static final String UUID_RE = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

	private static final String TIME_RE = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";

	private static final Set<String> ENVELOPE_KEYS = Set.of("specversion", "id", "source", "type", "subject", "time",
	    "datacontenttype", "dataschema", "site", "data");

	private static final Set<String> DATA_KEYS = Set.of("event", "status", "user_uuid", "username", "system_id",
	    "occurred_at", "method");

	private final Path tmp;

	private final LoopbackIngest ingest;

	private final MemoryLog log = new MemoryLog();

	private final Map<String, String> settings = Collections.synchronizedMap(new HashMap<>());

	private final List<DormantHook> hooks = new ArrayList<>();

	public SessionHookTest() throws IOException {
		tmp = Files.createTempDirectory("dormant-hook-test");
		ingest = new LoopbackIngest();
		settings.put(Config.INGEST_URL, ingest.url());
		settings.put(Config.TOKEN, "tok-123");
		settings.put(Config.SITE, "site-a");
		settings.put(Config.SOURCE_URL, "https://emr.example.org/openmrs");
		settings.put(Config.SPOOL_DIR, tmp.resolve("spool").toString());
		settings.put(Config.BATCH_WAIT_MS, "20");
		settings.put(Config.RETRY_BASE_MS, "10");
		settings.put(Config.RETRY_MAX_MS, "100");
		settings.put(Config.MAX_ATTEMPTS, "3");
		settings.put(Config.AUTH_RETRY_MS, "200");
		settings.put(Config.CONNECT_TIMEOUT_MS, "500");
		settings.put(Config.REQUEST_TIMEOUT_MS, "2000");
	}

	// ---- fixture ----

	private DormantHook startHook() {
		DormantHook h = new DormantHook(DormantHook.DEFAULT_QUEUE_CAPACITY);
		hooks.add(h);
		h.start(settings::get, log);
		return h;
	}

	private static User user(String uuid, String username, String systemId) {
		User u = new User();
		if (uuid != null) {
			u.setUuid(uuid);
		}
		u.setUsername(username);
		u.setSystemId(systemId);
		return u;
	}

	/** A successful login of a saved user, through the listener exactly as OpenMRS calls it. */
	private static void login(DormantHook h, String username) {
		new DormantSessionListener(h).loggedInOrOut(user(UUID.randomUUID().toString(), username, username + "-sys"),
		    Event.LOGIN, Status.SUCCESS);
	}

	/** Each of n threads logs in users "t<thread>-<i>" for i in [from, to), all at once. */
	private static void loginsInParallel(DormantHook h, int n, int from, int to) throws InterruptedException {
		List<Thread> ts = new ArrayList<>();
		for (int t = 0; t < n; t++) {
			String prefix = "t" + t + "-";
			Thread th = new Thread(() -> {
				for (int i = from; i < to; i++) {
					login(h, prefix + i);
				}
			});
			ts.add(th);
			th.start();
		}
		for (Thread th : ts) {
			th.join();
		}
	}

	private static List<String> usernames(List<Map<String, Object>> events) {
		List<String> out = new ArrayList<>();
		for (Map<String, Object> e : events) {
			out.add((String) MiniJson.obj(e.get("data")).get("username"));
		}
		return out;
	}

	private static List<String> names(String prefix, int from, int to) {
		List<String> out = new ArrayList<>();
		for (int i = from; i < to; i++) {
			out.add(String.format("%s%03d", prefix, i));
		}
		return out;
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

	// ---- delivery ----

	public void testBatchDeliveredWithHeadersAndShape() {
		settings.put(Config.BATCH_WAIT_MS, "300");
		long before = System.currentTimeMillis();
		DormantHook h = startHook();
		UserSessionListener l = new DormantSessionListener(h);
		String uuid = "0f7e3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6";
		String failUuid = UUID.randomUUID().toString();
		l.loggedInOrOut(user(uuid, "nurse.jane", "3-4"), Event.LOGIN, Status.SUCCESS);
		l.loggedInOrOut(user(uuid, "nurse.jane", "3-4"), Event.LOGOUT, Status.SUCCESS);
		// As core does on a failure: new User() with only the typed username; its uuid is random.
		l.loggedInOrOut(user(failUuid, "nurse.jnae", null), Event.LOGIN, Status.FAIL);
		Check.eventually(5000, "3 sent", () -> h.counters().sent == 3, h.counters());
		long after = System.currentTimeMillis();

		List<LoopbackIngest.Request> reqs = ingest.requests();
		Check.equal(1, reqs.size(), "requests (the three events make one batch)");
		LoopbackIngest.Request r = reqs.get(0);
		Check.equal("POST", r.method, "method");
		Check.equal(LoopbackIngest.PATH, r.path, "path");
		Check.equal("application/cloudevents-batch+json", r.contentType, "Content-Type");
		Check.equal("Bearer tok-123", r.authorization, "Authorization");
		Check.isTrue(!r.body.contains(failUuid), "the failed login's random uuid must not be sent: " + r.body);
		Check.isTrue(!r.body.contains("null"), "null fields are omitted: " + r.body);

		List<Object> evs = r.events();
		Check.equal(3, evs.size(), "events in the batch");
		Set<String> ids = new HashSet<>();
		String[][] want = { { "login", "success" }, { "logout", "success" }, { "login", "failure" } };
		for (int i = 0; i < 3; i++) {
			Map<String, Object> e = MiniJson.obj(evs.get(i));
			Check.isTrue(ENVELOPE_KEYS.containsAll(e.keySet()), "unexpected envelope keys " + e.keySet());
			Check.equal("1.0", e.get("specversion"), "specversion");
			Check.isTrue(((String) e.get("id")).matches(UUID_RE), "id is a UUID: " + e.get("id"));
			ids.add((String) e.get("id"));
			Check.equal("https://emr.example.org/openmrs", e.get("source"), "source");
			Check.equal("org.openmrs.user.session", e.get("type"), "type");
			Check.equal("application/json", e.get("datacontenttype"), "datacontenttype");
			Check.equal("https://dormant.dev/schemas/v1/user-session.json", e.get("dataschema"), "dataschema");
			Check.equal("site-a", e.get("site"), "site");
			String time = (String) e.get("time");
			Check.isTrue(time.matches(TIME_RE), "time is RFC 3339 UTC with milliseconds: " + time);
			long t = java.time.Instant.parse(time).toEpochMilli();
			Check.isTrue(t >= before && t <= after, "time is when the call happened: " + time);
			Map<String, Object> d = MiniJson.obj(e.get("data"));
			Check.isTrue(DATA_KEYS.containsAll(d.keySet()), "unexpected data keys " + d.keySet());
			Check.equal(want[i][0], d.get("event"), "data.event #" + i);
			Check.equal(want[i][1], d.get("status"), "data.status #" + i);
			Check.equal(time, d.get("occurred_at"), "data.occurred_at equals time");
			Check.equal("form", d.get("method"), "data.method");
			if (i < 2) {
				Check.equal(uuid, e.get("subject"), "subject on success");
				Check.equal(uuid, d.get("user_uuid"), "data.user_uuid on success");
				Check.equal("nurse.jane", d.get("username"), "data.username");
				Check.equal("3-4", d.get("system_id"), "data.system_id");
			} else {
				Check.isTrue(!e.containsKey("subject"), "no subject on failure");
				Check.isTrue(!d.containsKey("user_uuid"), "no user_uuid on failure");
				Check.isTrue(!d.containsKey("system_id"), "no system_id when OpenMRS gave none");
				Check.equal("nurse.jnae", d.get("username"), "the typed username on failure");
			}
		}
		Check.equal(3, ids.size(), "distinct ids");
		Check.equal(3L, h.counters().queued, "queued");
	}

	public void testFailureCarriesNoUserUuid() {
		DormantHook h = startHook();
		UserSessionListener l = new DormantSessionListener(h);
		List<String> randomUuids = new ArrayList<>();
		for (int i = 0; i < 5; i++) {
			User u = new User(); // as core: a fresh object, random uuid, only the username set
			u.setUsername("guess" + i);
			randomUuids.add(u.getUuid());
			l.loggedInOrOut(u, Event.LOGIN, Status.FAIL);
		}
		Check.eventually(5000, "5 sent", () -> h.counters().sent == 5, h.counters());
		for (LoopbackIngest.Request r : ingest.requests()) {
			for (String u : randomUuids) {
				Check.isTrue(!r.body.contains(u), "random uuid of an unsaved user sent: " + r.body);
			}
			Check.isTrue(!r.body.contains("user_uuid") && !r.body.contains("subject"), "uuid fields on failure: " + r.body);
		}
		List<String> got = usernames(ingest.events());
		Check.equal(List.of("guess0", "guess1", "guess2", "guess3", "guess4"), got, "usernames in order");
	}

	public void testServerErrorIsRetriedThenSucceeds() {
		AtomicInteger n = new AtomicInteger();
		ingest.respond(r -> n.getAndIncrement() == 0 ? LoopbackIngest.Reply.of(500, "{\"error\":\"boom\"}")
		        : LoopbackIngest.ACCEPT_ALL.apply(r));
		DormantHook h = startHook();
		login(h, "u1");
		Check.eventually(5000, "sent after a retry", () -> h.counters().sent == 1, h.counters());
		List<LoopbackIngest.Request> reqs = ingest.requests();
		Check.equal(2, reqs.size(), "requests");
		Object id1 = MiniJson.obj(reqs.get(0).events().get(0)).get("id");
		Object id2 = MiniJson.obj(reqs.get(1).events().get(0)).get("id");
		Check.equal(id1, id2, "a retry resends the same event id (login-ingest deduplicates on it)");
		Check.equal(0L, h.counters().spooled, "nothing spooled");
	}

	public void testRetryAfterIsHonoured() {
		AtomicInteger n = new AtomicInteger();
		ingest.respond(r -> n.getAndIncrement() == 0
		        ? new LoopbackIngest.Reply(429, "{\"error\":\"slow down\"}", Map.of("Retry-After", "1"), 0)
		        : LoopbackIngest.ACCEPT_ALL.apply(r));
		DormantHook h = startHook();
		login(h, "u1");
		Check.eventually(6000, "delivered", () -> h.counters().sent + h.counters().replayed == 1, h.counters());
		List<LoopbackIngest.Request> reqs = ingest.requests();
		Check.equal(2, reqs.size(), "requests");
		long gapMs = (reqs.get(1).atNanos - reqs.get(0).atNanos) / 1_000_000;
		Check.isTrue(gapMs >= 950, "waited the Retry-After second, waited " + gapMs + " ms");
	}

	public void testBadRequestIsNotRetried() throws Exception {
		settings.put(Config.BATCH_WAIT_MS, "300");
		ingest.respond(r -> LoopbackIngest.Reply.of(400,
		    "{\"accepted\":1,\"rejected\":[{\"index\":1,\"reason\":\"invalid\",\"field\":\"data.username\",\"problem\":\"too long\"}],"
		            + "\"error\":\"1 of 2 events refused; the others were accepted\"}"));
		DormantHook h = startHook();
		login(h, "good");
		login(h, "bad");
		Check.eventually(5000, "the refusal counted", () -> h.counters().failed == 1, h.counters());
		Thread.sleep(400);
		Check.equal(1, ingest.requests().size(), "a 400 is not retried");
		Check.equal(1L, h.counters().sent, "the accepted one counts as sent");
		Check.equal(0L, h.counters().spooled, "nothing spooled");
		Check.isTrue(log.contains("WARN", "data.username"), "the answer is logged:\n" + log);
	}

	public void testTooLargeIsSplit() {
		settings.put(Config.BATCH_WAIT_MS, "300");
		ingest.respond(r -> r.events().size() > 2 ? LoopbackIngest.Reply.of(413, "{\"error\":\"too large\"}")
		        : LoopbackIngest.ACCEPT_ALL.apply(r));
		DormantHook h = startHook();
		for (String name : names("u", 0, 5)) {
			login(h, name);
		}
		Check.eventually(5000, "5 sent", () -> h.counters().sent == 5, h.counters());
		List<Map<String, Object>> accepted = new ArrayList<>();
		int tooLarge = 0;
		for (LoopbackIngest.Request r : ingest.requests()) {
			if (r.events().size() > 2) {
				tooLarge++;
			} else {
				r.events().forEach(o -> accepted.add(MiniJson.obj(o)));
			}
		}
		Check.isTrue(tooLarge >= 1, "the first batch was refused as too large");
		Check.equal(names("u", 0, 5), usernames(accepted), "every event accepted once, in order");
		Check.equal(0L, h.counters().failed + h.counters().dropped, "nothing lost");
	}

	public void testUnauthorizedKeepsEventsAndRetriesSlowly() {
		AtomicBoolean fixed = new AtomicBoolean();
		ingest.respond(r -> fixed.get() ? LoopbackIngest.ACCEPT_ALL.apply(r)
		        : LoopbackIngest.Reply.of(401, "{\"error\":\"the bearer token is not valid for any site\"}"));
		DormantHook h = startHook();
		login(h, "u1");
		Check.eventually(5000, "spooled", () -> h.counters().spooled == 1, h.counters());
		Check.isTrue(log.contains("ERROR", "dormant.token"), "a loud error naming the setting:\n" + log);
		Check.isTrue(log.contains("ERROR", "not valid for any site"), "the server's answer is logged:\n" + log);
		int before = ingest.requests().size();
		Check.isTrue(before <= 2, "no fast retry loop on 401: " + before + " requests");
		fixed.set(true);
		Check.eventually(5000, "replayed once the token works", () -> h.counters().replayed == 1, h.counters());
		Check.equal(0L, h.counters().sent + h.counters().dropped, "not sent live, not lost");
	}

	// ---- outage, spool, restart ----

	public void testOutageSpoolsThenReplaysInOrder() throws Exception {
		int port = ingest.port();
		ingest.stop();
		DormantHook h = startHook();
		for (String name : names("u", 0, 30)) {
			login(h, name);
		}
		Check.eventually(10000, "30 spooled", () -> h.counters().spooled == 30, h.counters());
		Check.isTrue(log.contains("WARN", "login-ingest unavailable"), "the outage is logged:\n" + log);
		ingest.start(port);
		Check.eventually(10000, "30 replayed", () -> h.counters().replayed == 30, h.counters());
		List<Map<String, Object>> got = ingest.events();
		Check.equal(names("u", 0, 30), usernames(got), "replayed oldest first, each once");
		Set<Object> ids = new HashSet<>();
		got.forEach(e -> ids.add(e.get("id")));
		Check.equal(30, ids.size(), "distinct ids");
		Check.equal(0L, h.counters().dropped + h.counters().failed + h.counters().sent, "nothing lost or sent live");
		// New events after the replay go straight out again.
		login(h, "after");
		Check.eventually(5000, "live again", () -> h.counters().sent == 1, h.counters());
		Check.equal(0L, Files.list(tmp.resolve("spool")).filter(p -> p.getFileName().toString().startsWith("seg-")).count(),
		    "an empty spool keeps no segment files");
	}

	public void testSpoolSurvivesRestart() throws Exception {
		int port = ingest.port();
		ingest.stop();
		DormantHook first = startHook();
		for (String name : names("u", 0, 20)) {
			login(first, name);
		}
		Check.eventually(10000, "20 spooled", () -> first.counters().spooled == 20, first.counters());
		Check.isTrue(first.stop(5000), "first dispatcher stopped");

		ingest.start(port);
		DormantHook second = startHook();
		Check.eventually(10000, "20 replayed after the restart", () -> second.counters().replayed == 20,
		    second.counters());
		Check.equal(names("u", 0, 20), usernames(ingest.events()), "all of them, in order, once");
		Check.isTrue(log.contains("INFO", "from before; replaying them first"), "the replay is logged:\n" + log);
	}

	public void testSpoolIsBoundedDroppingOldest() throws Exception {
		settings.put(Config.SPOOL_MAX_BYTES, "8192");
		settings.put(Config.MAX_ATTEMPTS, "1");
		int port = ingest.port();
		ingest.stop();
		DormantHook h = startHook();
		for (String name : names("u", 0, 200)) {
			login(h, name);
		}
		Check.eventually(10000, "all written", () -> h.counters().spooled + h.counters().dropped >= 200
		        && h.queue.size() == 0, h.counters());
		Check.isTrue(h.counters().dropped > 0, "the oldest were dropped: " + h.counters());
		long bytes;
		try (Stream<Path> s = Files.list(tmp.resolve("spool"))) {
			bytes = s.filter(p -> p.getFileName().toString().startsWith("seg-")).mapToLong(p -> p.toFile().length()).sum();
		}
		Check.isTrue(bytes <= 8192, "spool within its limit: " + bytes);
		Check.isTrue(log.contains("WARN", "dropped its oldest"), "drops are logged:\n" + log);

		ingest.start(port);
		Check.eventually(10000, "the rest replayed", () -> h.counters().replayed + h.counters().dropped == 200,
		    h.counters());
		List<String> got = usernames(ingest.events());
		Check.isTrue(!got.isEmpty(), "something kept");
		Check.equal(names("u", 200 - got.size(), 200), got, "the newest kept, in order");
	}

	public void testStopFlushesWithinDeadline() throws Exception {
		// A working server and a long batch wait: stop() must send what waits instead of losing it.
		settings.put(Config.BATCH_WAIT_MS, "60000");
		DormantHook h = startHook();
		Check.eventually(5000, "configured", () -> log.contains("INFO", "sending login events"), log);
		for (String name : names("u", 0, 5)) {
			login(h, name);
		}
		Check.isTrue(h.stop(5000), "stopped");
		Check.equal(5L, h.counters().sent, "flushed on stop");
		Check.equal(names("u", 0, 5), usernames(ingest.events()), "flushed in order");
	}

	public void testStopGivesUpOnAHangingServerAndSpools() throws Exception {
		ingest.respond(r -> new LoopbackIngest.Reply(202, "{}", Map.of(), 10_000));
		settings.put(Config.REQUEST_TIMEOUT_MS, "20000");
		DormantHook h = startHook();
		login(h, "u0");
		Check.eventually(5000, "the POST is hanging", () -> ingest.requests().size() == 1, h.counters());
		// Logins while the dispatcher is stuck in a POST are not slowed.
		long t0 = System.nanoTime();
		for (String name : names("w", 0, 1000)) {
			login(h, name);
		}
		long ms = (System.nanoTime() - t0) / 1_000_000;
		Check.isTrue(ms < 500, "1000 logins took " + ms + " ms with the dispatcher blocked");
		t0 = System.nanoTime();
		boolean stopped = h.stop(300);
		long stopMs = (System.nanoTime() - t0) / 1_000_000;
		Check.isTrue(stopped, "stopped");
		Check.isTrue(stopMs < 3000, "stop took " + stopMs + " ms");
		Check.equal(1001L, h.counters().spooled, "everything kept in the spool for the next start");
	}

	// ---- the login thread ----

	public void testConcurrentLoginsAreAllDeliveredOnce() throws Exception {
		// Login threads race each other and the dispatcher on the lock-free queue, in three rounds:
		// login-ingest up, down (the spool fills), up again while the spool is replayed and new
		// events keep arriving behind it.
		int threads = 4;
		int perRound = 250;
		AtomicBoolean down = new AtomicBoolean();
		ingest.respond(r -> down.get() ? LoopbackIngest.Reply.of(503, "{\"error\":\"unavailable\"}")
		        : LoopbackIngest.ACCEPT_ALL.apply(r));
		settings.put(Config.MAX_ATTEMPTS, "1");
		DormantHook h = startHook();
		Check.eventually(5000, "configured", () -> log.contains("INFO", "sending login events"), log);
		loginsInParallel(h, threads, 0, perRound);
		Check.eventually(10000, "round 1 sent live", () -> h.counters().sent == threads * perRound, h.counters());
		down.set(true);
		loginsInParallel(h, threads, perRound, 2 * perRound);
		Check.eventually(10000, "round 2 spooled", () -> h.counters().spooled > 0 && h.queue.size() == 0, h.counters());
		down.set(false);
		loginsInParallel(h, threads, 2 * perRound, 3 * perRound);
		int each = 3 * perRound;
		int total = threads * each;
		Check.eventually(20000, "all delivered", () -> h.counters().sent + h.counters().replayed == total
		        && h.queue.size() == 0, h.counters());
		Check.equal((long) total, h.counters().queued, "queued");
		Check.isTrue(h.counters().replayed > 0, "the outage round went through the spool: " + h.counters());
		Check.equal(0L, h.counters().dropped + h.counters().failed, "nothing lost");
		// Each event accepted exactly once: count only the batches login-ingest accepted.
		Map<String, Integer> seen = new HashMap<>();
		Map<String, Integer> lastOfThread = new HashMap<>();
		for (LoopbackIngest.Request r : ingest.requests()) {
			if (r.status != 202) {
				continue;
			}
			for (Object o : r.events()) {
				String name = (String) MiniJson.obj(MiniJson.obj(o).get("data")).get("username");
				seen.merge(name, 1, Integer::sum);
				String[] parts = name.split("-");
				int n = Integer.parseInt(parts[1]);
				Integer prev = lastOfThread.put(parts[0], n);
				Check.isTrue(prev == null || n > prev, "a thread's events arrive in its order: " + name + " after " + prev);
			}
		}
		Check.equal(total, seen.size(), "distinct events accepted");
		for (Map.Entry<String, Integer> e : seen.entrySet()) {
			Check.equal(1, e.getValue(), "times " + e.getKey() + " was accepted");
		}
	}

	public void testQueueOverflowDropsCountsAndStaysFast() {
		DormantHook h = new DormantHook(100); // no dispatcher: nothing drains
		UserSessionListener l = new DormantSessionListener(h);
		User u = user(UUID.randomUUID().toString(), "busy", "1-1");
		long t0 = System.nanoTime();
		for (int i = 0; i < 10_000; i++) {
			l.loggedInOrOut(u, Event.LOGIN, Status.SUCCESS);
		}
		long ms = (System.nanoTime() - t0) / 1_000_000;
		System.out.println("  10,000 loggedInOrOut calls against a full queue: " + ms + " ms");
		Check.isTrue(ms < 1000, "10,000 calls took " + ms + " ms");
		Check.equal(100L, h.counters().queued, "queued up to capacity");
		Check.equal(9_900L, h.counters().dropped, "the rest dropped and counted");
	}

	public void testListenerNeverThrows() {
		DormantHook h = new DormantHook(10);
		UserSessionListener l = new DormantSessionListener(h);
		l.loggedInOrOut(null, Event.LOGIN, Status.SUCCESS);
		l.loggedInOrOut(null, Event.LOGIN, Status.FAIL);
		l.loggedInOrOut(user(null, "x", null), null, Status.SUCCESS);
		l.loggedInOrOut(user(null, "x", null), Event.LOGIN, null);
		Check.equal(4L, h.counters().dropped, "unusable calls counted as dropped");
		// Core's logout() passes its user, null when nobody was logged in: not an event, not a loss.
		l.loggedInOrOut(null, Event.LOGOUT, Status.SUCCESS);
		Check.equal(4L, h.counters().dropped, "logout without a user is ignored");
		User broken = new User() {

			@Override
			public String getUsername() {
				throw new IllegalStateException("lazy initialization failed");
			}
		};
		l.loggedInOrOut(broken, Event.LOGIN, Status.SUCCESS);
		Check.equal(5L, h.counters().dropped, "a user whose getters throw");
		new DormantSessionListener(null).loggedInOrOut(broken, Event.LOGIN, Status.SUCCESS);
		Check.equal(0L, h.counters().queued, "nothing queued");
	}

	public void testMissingConfigNeverThrowsAndKeepsEvents() {
		settings.remove(Config.INGEST_URL);
		settings.remove(Config.TOKEN);
		settings.remove(Config.SITE);
		settings.put(Config.CONFIG_REFRESH_MS, "50");
		DormantHook h = startHook();
		for (String name : names("u", 0, 10)) {
			login(h, name);
		}
		Check.eventually(5000, "kept in the spool", () -> h.counters().spooled == 10, h.counters());
		Check.isTrue(log.contains("ERROR", "dormant.ingestUrl is not set"), "the missing setting is logged:\n" + log);
		Check.equal(0, ingest.requests().size(), "nothing sent");
		settings.put(Config.INGEST_URL, ingest.url());
		settings.put(Config.TOKEN, "tok-123");
		settings.put(Config.SITE, "site-a");
		Check.eventually(5000, "sent once configured", () -> h.counters().replayed == 10, h.counters());
		Check.equal(names("u", 0, 10), usernames(ingest.events()), "in order");
		Check.equal("site-a", ingest.events().get(0).get("site"), "the site in force when sent");
	}

	public void testUnreadableConfigNeverThrows() throws Exception {
		DormantHook h = new DormantHook(DormantHook.DEFAULT_QUEUE_CAPACITY);
		hooks.add(h);
		h.start(name -> {
			throw new IllegalStateException("OpenMRS is still starting");
		}, log);
		for (String name : names("u", 0, 10)) {
			login(h, name);
		}
		Check.equal(10L, h.counters().queued, "queued");
		Check.eventually(5000, "logged", () -> log.contains("WARN", "OpenMRS is still starting"), log);
		Thread.sleep(100);
		Check.equal(10, h.queue.size(), "held in memory until the settings can be read");
	}

	// ---- encoding ----

	public void testJsonEscapingOfOddUsernames() {
		String[] odd = { "a\"b", "back\\slash", "tab\tnew\nline\r", "\u0001\u001f\u007f", "Jos\u00e9 \u00c5ngstr\u00f6m",
		        "\u65e5\u672c\u8a9e", "smile\uD83D\uDE00", "</script>", "lone\uD800x" };
		DormantHook h = startHook();
		for (String name : odd) {
			login(h, name);
		}
		Check.eventually(5000, "sent", () -> h.counters().sent == odd.length, h.counters());
		for (LoopbackIngest.Request r : ingest.requests()) {
			for (char c : r.body.toCharArray()) {
				Check.isTrue(c >= 0x20, "raw control character in the body: " + (int) c);
			}
		}
		List<String> got = usernames(ingest.events());
		List<String> want = new ArrayList<>(List.of(odd));
		want.set(odd.length - 1, "lone\uFFFDx"); // an unpaired surrogate cannot be UTF-8: replaced, not '?'
		Check.equal(want, got, "usernames round-trip through JSON and UTF-8");
	}

	public void testSpoolLineRoundTrip() {
		String[] odd = { "a\"b\\c\n\u0000", "\u65e5\u672c", "smile\uD83D\uDE00", "plain" };
		for (String name : odd) {
			SessionRecord r = new SessionRecord(null, 1_700_000_000_123L, false, true, UUID.randomUUID().toString(), name,
			        "sys\"1").normalized();
			String line = r.toSpoolLine();
			Check.isTrue(line.indexOf('\n') < 0, "one line: " + line);
			MiniJson.parse(line); // valid JSON for an independent parser too
			SessionRecord back = SessionRecord.fromSpoolLine(line);
			Check.equal(r.id, back.id, "id");
			Check.equal(r.atMillis, back.atMillis, "at");
			Check.equal(r.login, back.login, "login");
			Check.equal(r.success, back.success, "success");
			Check.equal(r.userUuid, back.userUuid, "uuid");
			Check.equal(name, back.username, "username");
			Check.equal("sys\"1", back.systemId, "system id");
		}
		for (String damaged : new String[] { "", "{", "{\"v\":\"1\"}", "{\"v\":\"2\",\"id\":\"x\"}", "not json",
		        "{\"v\":\"1\",\"id\":\"i\",\"at\":\"x\",\"event\":\"login\",\"status\":\"success\",\"username\":\"u\"}" }) {
			try {
				SessionRecord.fromSpoolLine(damaged);
				throw new AssertionError("accepted a damaged spool line: " + damaged);
			}
			catch (IllegalArgumentException expected) {
				// a damaged line is detected, not half-read
			}
		}
	}

	public void testNamesFollowTheSchema() {
		SessionRecord blank = new SessionRecord(null, 0, true, true, null, " ", "sys-7").normalized();
		Check.equal("sys-7", blank.username, "no username: the system id stands in");
		Check.isTrue(new SessionRecord(null, 0, true, false, null, null, null).normalized() == null, "no name at all");
		String long60 = "x".repeat(60);
		Check.equal(50, new SessionRecord(null, 0, true, false, null, long60, null).normalized().username.length(),
		    "cut to 50");
		String emoji = "\uD83D\uDE00".repeat(60);
		String cut = new SessionRecord(null, 0, true, false, null, emoji, null).normalized().username;
		Check.equal(50, cut.codePointCount(0, cut.length()), "cut by code points, never inside a pair");
		Check.isTrue(new SessionRecord(null, 0, true, true, "not-a-uuid", "u", null).normalized().userUuid == null,
		    "a uuid that is not one is left out");
		Check.equal("2023-11-14T22:13:20.123Z", SessionRecord.rfc3339(1_700_000_000_123L), "RFC 3339 with millis");
	}

	// ---- settings ----

	public void testRetryAfterParsing() {
		Check.equal(3000L, Dispatcher.retryAfterMs("3"), "seconds");
		Check.equal(0L, Dispatcher.retryAfterMs(null), "absent");
		Check.equal(0L, Dispatcher.retryAfterMs("soon"), "garbage");
		Check.equal(0L, Dispatcher.retryAfterMs("-5"), "negative");
		Check.equal(86_400_000L, Dispatcher.retryAfterMs("999999"), "capped at a day");
		String date = java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME
		        .format(java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC).plusSeconds(10));
		long ms = Dispatcher.retryAfterMs(date);
		Check.isTrue(ms > 8000 && ms <= 10_000, "an HTTP date 10 s ahead: " + ms);
	}

	public void testConfigValidation() throws Exception {
		Map<String, String> m = new HashMap<>(settings);
		Check.isTrue(Config.load(m::get).complete(), "the test settings are complete");
		m.put(Config.SITE, "Site A");
		m.put(Config.INGEST_URL, "ftp://x/");
		m.put(Config.BATCH_SIZE, "lots");
		Config c = Config.load(m::get);
		Check.isTrue(!c.complete(), "bad site and URL are problems");
		Check.equal(2, c.problems.size(), "problems: " + c.problems);
		Check.equal(100, c.batchSize, "a bad number falls back to its default");
		Check.equal(1, c.notes.size(), "and is noted: " + c.notes);
		m.remove(Config.SOURCE_URL);
		Check.isTrue(Config.load(m::get).source.matches("openmrs://[a-z0-9.-]+"), "default source openmrs://host");
	}
}
