package org.openmrs.module.dormant;

import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;

import org.openmrs.User;
import org.openmrs.UserSessionListener;
import org.openmrs.UserSessionListener.Event;
import org.openmrs.UserSessionListener.Status;

/**
 * What reaches login-ingest when it is up: batches, the request, the CloudEvent of each login and
 * logout (checked against the schema's rules by the fake intake as well as here), and the names and
 * characters OpenMRS can hand over.
 */
public class DeliveryTest extends HookFixture {

	private static final String UUID_RE = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

	private static final String TIME_RE = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";

	private static final Set<String> ENVELOPE_KEYS = Set.of("specversion", "id", "source", "type", "subject", "time",
	    "datacontenttype", "dataschema", "site", "data");

	private static final Set<String> DATA_KEYS = Set.of("event", "status", "user_uuid", "username", "system_id",
	    "occurred_at", "method");

	public DeliveryTest() throws IOException {
		super();
	}

	// ---- batching ----

	public void testAFullBatchGoesAtOnceTheRestAfterTheBatchWait() {
		settings.put(Config.BATCH_SIZE, "3");
		settings.put(Config.BATCH_WAIT_MS, "1000");
		DormantHook h = startHook();
		Check.eventually(5000, "configured", () -> log.contains("INFO", "sending login events"), log);
		long t0 = System.nanoTime();
		logins(h, names("b", 0, 4));
		Check.eventually(5000, "4 sent", () -> h.counters().sent == 4, h.counters());
		List<FakeIngest.Request> reqs = ingest.requests();
		Check.equal("[3,1]", sizes(), "a full batch of 3, then the 4th alone");
		long first = ms(t0, reqs.get(0).atNanos);
		long gap = ms(reqs.get(0).atNanos, reqs.get(1).atNanos);
		Check.isTrue(first < 500, "a full batch does not sit out the batch wait: sent after " + first + " ms");
		Check.isTrue(gap >= 900, "the lone event waited dormant.batchWaitMs for company: " + gap + " ms");
		Check.equal(names("b", 0, 4), usernames(ingest.accepted()), "in order");
	}

	// ---- the request and the event ----

	public void testRequestHeadersAndCloudEventShape() {
		settings.put(Config.BATCH_SIZE, "4");
		settings.put(Config.BATCH_WAIT_MS, "300");
		long before = System.currentTimeMillis();
		DormantHook h = startHook();
		UserSessionListener l = new DormantSessionListener(h);
		String jane = "0f7e3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6";
		String bob = UUID.randomUUID().toString();
		User failed = new User(); // as core on a failure: a fresh object, random uuid, the typed name
		failed.setUsername("nurse.jnae");
		l.loggedInOrOut(user(jane, "nurse.jane", "3-4"), Event.LOGIN, Status.SUCCESS);
		l.loggedInOrOut(user(bob, "bob", null), Event.LOGIN, Status.SUCCESS);
		l.loggedInOrOut(user(jane, "nurse.jane", "3-4"), Event.LOGOUT, Status.SUCCESS);
		l.loggedInOrOut(failed, Event.LOGIN, Status.FAIL);
		Check.eventually(5000, "4 sent", () -> h.counters().sent == 4, h.counters());
		long after = System.currentTimeMillis();

		List<FakeIngest.Request> reqs = ingest.requests();
		Check.equal(1, reqs.size(), "requests (the four events make one batch): " + sizes());
		FakeIngest.Request r = reqs.get(0);
		Check.equal(202, r.status, "login-ingest accepted it: " + r.answer);
		Check.equal("POST", r.method, "method");
		Check.equal(FakeIngest.PATH, r.path, "path");
		Check.equal("application/cloudevents-batch+json", r.headers.get("content-type"), "Content-Type");
		Check.equal("Bearer " + FakeIngest.TOKEN, r.headers.get("authorization"), "Authorization");
		Check.isTrue(!r.body.contains(failed.getUuid()), "the failed login's random uuid is not sent: " + r.body);
		Check.isTrue(!r.body.contains("null"), "null fields are left out, not sent as null: " + r.body);

		String[][] want = { { "login", "success", jane, "nurse.jane", "3-4" }, { "login", "success", bob, "bob", null },
		        { "logout", "success", jane, "nurse.jane", "3-4" }, { "login", "failure", null, "nurse.jnae", null } };
		Set<Object> ids = new HashSet<>();
		for (int i = 0; i < want.length; i++) {
			Map<String, Object> e = r.events.get(i);
			Set<String> keys = new HashSet<>(ENVELOPE_KEYS);
			if (want[i][2] == null) {
				keys.remove("subject");
			}
			Check.equal(keys, e.keySet(), "attributes of event " + i);
			Check.equal("1.0", e.get("specversion"), "specversion");
			Check.isTrue(((String) e.get("id")).matches(UUID_RE), "id is a UUID: " + e.get("id"));
			ids.add(e.get("id"));
			Check.equal("https://emr.example.org/openmrs", e.get("source"), "source is dormant.sourceUrl");
			Check.equal("org.openmrs.user.session", e.get("type"), "type");
			Check.equal("application/json", e.get("datacontenttype"), "datacontenttype");
			Check.equal("https://dormant.dev/schemas/v1/user-session.json", e.get("dataschema"), "dataschema");
			Check.equal(FakeIngest.SITE, e.get("site"), "site is dormant.site");
			Check.equal(want[i][2], e.get("subject"), "subject is the user uuid, on successes only");
			String time = (String) e.get("time");
			Check.isTrue(time.matches(TIME_RE), "time is RFC 3339 UTC with milliseconds: " + time);
			long t = Instant.parse(time).toEpochMilli();
			Check.isTrue(t >= before && t <= after, "time is when the call happened: " + time);

			Map<String, Object> d = data(e);
			Set<String> dkeys = new HashSet<>(DATA_KEYS);
			if (want[i][2] == null) {
				dkeys.remove("user_uuid");
			}
			if (want[i][4] == null) {
				dkeys.remove("system_id");
			}
			Check.equal(dkeys, d.keySet(), "data fields of event " + i);
			Check.equal(want[i][0], d.get("event"), "data.event #" + i);
			Check.equal(want[i][1], d.get("status"), "data.status #" + i);
			Check.equal(want[i][2], d.get("user_uuid"), "data.user_uuid #" + i);
			Check.equal(want[i][3], d.get("username"), "data.username #" + i);
			Check.equal(want[i][4], d.get("system_id"), "data.system_id #" + i);
			Check.equal(time, d.get("occurred_at"), "data.occurred_at equals time");
			Check.equal("form", d.get("method"), "data.method");
		}
		Check.equal(4, ids.size(), "distinct ids");
		Counters.Snapshot s = h.counters();
		Check.isTrue(s.queued == 4 && s.dropped == 0 && s.spooled == 0 && s.failed == 0, "counters " + s);
	}

	public void testFailuresCarryNoUserUuid() {
		DormantHook h = startHook();
		UserSessionListener l = new DormantSessionListener(h);
		List<String> randomUuids = new ArrayList<>();
		for (int i = 0; i < 5; i++) {
			User u = new User(); // as core: a fresh object, random uuid, only the typed username set
			u.setUsername("guess" + i);
			randomUuids.add(u.getUuid());
			l.loggedInOrOut(u, i == 4 ? Event.LOGOUT : Event.LOGIN, Status.FAIL);
		}
		Check.eventually(5000, "5 sent", () -> h.counters().sent == 5, h.counters());
		for (FakeIngest.Request r : ingest.requests()) {
			for (String u : randomUuids) {
				Check.isTrue(!r.body.contains(u), "random uuid of an unsaved user sent: " + r.body);
			}
			Check.isTrue(!r.body.contains("user_uuid") && !r.body.contains("subject"), "uuid fields on failure: " + r.body);
		}
		List<Map<String, Object>> got = ingest.accepted();
		Check.equal(List.of("guess0", "guess1", "guess2", "guess3", "guess4"), usernames(got), "typed usernames, in order");
		Check.equal("logout", data(got.get(4)).get("event"), "a failed logout is a logout");
		Check.isTrue(got.stream().allMatch(e -> "failure".equals(data(e).get("status"))), "all failures");
	}

	public void testNamesFollowTheSchemaOnTheWire() {
		DormantHook h = startHook();
		UserSessionListener l = new DormantSessionListener(h);
		// A user with only a system id logs in with it; the schema requires a username.
		l.loggedInOrOut(user(UUID.randomUUID().toString(), null, "7-2"), Event.LOGIN, Status.SUCCESS);
		// A typed name longer than any real one (50) is cut, by code points, not dropped.
		User typed = new User();
		typed.setUsername("x".repeat(49) + "\uD83D\uDE00" + "tail");
		l.loggedInOrOut(typed, Event.LOGIN, Status.FAIL);
		Check.eventually(5000, "2 sent", () -> h.counters().sent == 2, h.counters());
		List<Map<String, Object>> got = ingest.accepted();
		Check.equal("7-2", data(got.get(0)).get("username"), "the system id stands in for a missing username");
		String cut = (String) data(got.get(1)).get("username");
		Check.equal(50, cut.codePointCount(0, cut.length()), "username cut to 50 code points");
		Check.isTrue(cut.endsWith("\uD83D\uDE00"), "the cut keeps the emoji whole: " + cut);
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
		Check.isTrue(new SessionRecord(null, 0, true, false, UUID.randomUUID().toString(), "u", null)
		        .normalized().userUuid == null, "a failure keeps no uuid");
		Check.equal("2023-11-14T22:13:20.123Z", SessionRecord.rfc3339(1_700_000_000_123L), "RFC 3339 with millis");
	}

	public void testJsonEscapingOfOddUsernames() {
		List<String> odd = List.of("quo\"te", "back\\slash", "tab\there\nnl\r", "ctl\u0001\u001f\u007f",
		    "Zo\u00eb \u65e5\u672c \uD83D\uDE00", "Jos\u00e9 \u00c5ngstr\u00f6m", "</script>'&", "\u2028sep",
		    "lone\uD800x");
		DormantHook h = startHook();
		for (String n : odd) {
			new DormantSessionListener(h).loggedInOrOut(user(UUID.randomUUID().toString(), n, n), Event.LOGIN,
			    Status.SUCCESS);
		}
		Check.eventually(5000, "all sent", () -> h.counters().sent == odd.size(), h.counters());
		String body = ingest.requests().stream().map(r -> r.body).collect(Collectors.joining());
		for (char c : body.toCharArray()) {
			Check.isTrue(c >= 0x20, "raw control character in the body: " + (int) c);
		}
		Check.isTrue(body.contains("ctl\\u0001\\u001f"), "control characters as \\u00XX: " + body);
		Check.isTrue(body.contains("tab\\u0009here\\u000anl\\u000d"), "tab, newline, return as \\u00XX");
		Check.isTrue(body.contains("quo\\\"te") && body.contains("back\\\\slash"), "quote and backslash escaped");
		Check.isTrue(body.contains("Zo\u00eb \u65e5\u672c \uD83D\uDE00"), "non-ASCII kept as UTF-8, not escaped");
		List<String> want = new ArrayList<>(odd);
		want.set(odd.size() - 1, "lone\uFFFDx"); // an unpaired surrogate cannot be UTF-8: replaced, not '?'
		List<Map<String, Object>> got = ingest.accepted();
		Check.equal(want, usernames(got), "usernames round-trip through JSON and UTF-8");
		Check.equal(want, got.stream().map(e -> data(e).get("system_id")).collect(Collectors.toList()), "system ids too");
		StringBuilder sb = new StringBuilder();
		Json.string(sb, "a\uD800b\uDC00");
		Check.equal("\"a\uFFFDb\uFFFD\"", sb.toString(), "unpaired high and low surrogates become U+FFFD");
	}

	// ---- many login threads ----

	public void testConcurrentLoginsAreAllDeliveredOnceInOrder() throws Exception {
		// Login threads race each other and the dispatcher on the lock-free queue, in three rounds:
		// login-ingest up, its stream down (503: the spool fills), up again while the spool is
		// replayed and new events keep arriving behind it.
		int threads = 4;
		int perRound = 250;
		settings.put(Config.MAX_ATTEMPTS, "1");
		DormantHook h = startHook();
		Check.eventually(5000, "configured", () -> log.contains("INFO", "sending login events"), log);
		loginsInParallel(h, threads, 0, perRound);
		Check.eventually(10000, "round 1 sent live", () -> h.counters().sent == threads * perRound, h.counters());
		ingest.streamFails(503, -1, FakeIngest.RETRY_AFTER);
		loginsInParallel(h, threads, perRound, 2 * perRound);
		Check.eventually(10000, "round 2 spooled", () -> h.counters().spooled > 0 && h.queue.size() == 0, h.counters());
		ingest.streamUp();
		loginsInParallel(h, threads, 2 * perRound, 3 * perRound);
		int total = threads * 3 * perRound;
		Check.eventually(20000, "all delivered",
		    () -> h.counters().sent + h.counters().replayed == total && h.queue.size() == 0, h.counters());
		Check.equal((long) total, h.counters().queued, "queued");
		Check.isTrue(h.counters().replayed > 0, "the outage round went through the spool: " + h.counters());
		Check.equal(0L, h.counters().dropped + h.counters().failed, "nothing lost");
		Map<String, Integer> seen = new HashMap<>();
		Map<String, Integer> lastOfThread = new HashMap<>();
		for (String name : usernames(ingest.accepted())) {
			seen.merge(name, 1, Integer::sum);
			String[] parts = name.split("-");
			int n = Integer.parseInt(parts[1]);
			Integer prev = lastOfThread.put(parts[0], n);
			Check.isTrue(prev == null || n > prev, "a thread's events arrive in its order: " + name + " after " + prev);
		}
		Check.equal(total, seen.size(), "distinct events accepted");
		for (Map.Entry<String, Integer> e : seen.entrySet()) {
			Check.equal(1, e.getValue(), "times " + e.getKey() + " was accepted");
		}
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
}
