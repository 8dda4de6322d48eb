package org.openmrs.module.dormant;

import java.io.IOException;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;

import org.openmrs.User;
import org.openmrs.UserSessionListener.Event;
import org.openmrs.UserSessionListener.Status;

/**
 * What the hook does with each answer of login-ingest that is not a plain 202: retry with backoff
 * (5xx, 429, network), wait out Retry-After, never resend what a 400 refused, split what a 413
 * refused, and treat 401/403 as a setting to fix rather than something to hammer.
 */
public class RetryTest extends HookFixture {

	public RetryTest() throws IOException {
		super();
	}

	// ---- retries and backoff ----

	public void testServerErrorIsRetriedWithTheSameIds() {
		settings.put(Config.BATCH_SIZE, "5");
		ingest.streamFails(500, 1, null);
		DormantHook h = startHook();
		logins(h, names("n", 0, 5));
		Check.eventually(5000, "5 sent", () -> h.counters().sent == 5, h.counters());
		List<FakeIngest.Request> reqs = ingest.requests();
		Check.equal(2, reqs.size(), "one failed try, one retry: " + sizes());
		Check.equal(500, reqs.get(0).status, "the first try failed");
		Check.equal(ids(reqs.get(0).events), ids(reqs.get(1).events),
		    "the retry resends the same event ids (login-ingest deduplicates on them)");
		Check.equal(0L, h.counters().spooled, "nothing spooled");
	}

	public void testBackoffGrowsBetweenTries() {
		// Equal jitter: the n-th wait is at least half of retryBaseMs * 2^(n-1).
		settings.put(Config.RETRY_BASE_MS, "100");
		settings.put(Config.RETRY_MAX_MS, "5000");
		settings.put(Config.MAX_ATTEMPTS, "4");
		ingest.streamFails(500, 3, null);
		DormantHook h = startHook();
		login(h, "u");
		Check.eventually(10000, "sent on the 4th try", () -> h.counters().sent == 1, h.counters());
		List<FakeIngest.Request> reqs = ingest.requests();
		Check.equal(4, reqs.size(), "tries");
		long[] min = { 50, 100, 200 };
		for (int i = 0; i < 3; i++) {
			long gap = ms(reqs.get(i).atNanos, reqs.get(i + 1).atNanos);
			Check.isTrue(gap >= min[i], "wait before try " + (i + 2) + " is at least " + min[i] + " ms: " + gap);
		}
		Check.equal(0L, h.counters().spooled, "within dormant.maxAttempts: nothing spooled");
	}

	public void testTooManyFailuresSendTheBatchToTheSpool() {
		settings.put(Config.MAX_ATTEMPTS, "2");
		ingest.streamFails(500, 2, null);
		DormantHook h = startHook();
		login(h, "u");
		Check.eventually(5000, "spooled after 2 tries", () -> h.counters().spooled == 1, h.counters());
		Check.isTrue(log.contains("WARN", "after 2 tries; keeping 1 events in the spool"), "logged:\n" + log);
		Check.eventually(5000, "then replayed", () -> h.counters().replayed == 1, h.counters());
		Check.equal(3, ingest.requests().size(), "two tries, one replay");
	}

	// ---- Retry-After ----

	public void testRetryAfterIsWaitedOutInMemory() {
		settings.put(Config.RETRY_MAX_MS, "5000"); // a Retry-After within this is waited out in memory
		ingest.streamFails(429, 1, "1");
		DormantHook h = startHook();
		login(h, "a");
		Check.eventually(6000, "sent", () -> h.counters().sent == 1, h.counters());
		Check.equal(0L, h.counters().spooled, "not spooled");
		List<FakeIngest.Request> reqs = ingest.requests();
		Check.equal(2, reqs.size(), "requests");
		long gap = ms(reqs.get(0).atNanos, reqs.get(1).atNanos);
		Check.isTrue(gap >= 950, "waited for Retry-After: 1 s, not retryBaseMs=10: " + gap + " ms");
	}

	public void testLongRetryAfterSendsTheBatchToTheSpool() {
		// The real intake's 503: Retry-After 2, longer than dormant.retryMaxMs (100).
		ingest.streamFails(503, 1, FakeIngest.RETRY_AFTER);
		DormantHook h = startHook();
		login(h, "b");
		Check.eventually(6000, "replayed", () -> h.counters().replayed == 1, h.counters());
		Check.equal(1L, h.counters().spooled, "spooled rather than held in memory");
		Check.equal(0L, h.counters().sent, "not sent live");
		List<FakeIngest.Request> reqs = ingest.requests();
		long gap = ms(reqs.get(0).atNanos, reqs.get(1).atNanos);
		Check.isTrue(gap >= 1950, "the replay waited for Retry-After: " + gap + " ms");
	}

	public void testRetryAfterParsing() {
		Check.equal(3000L, Dispatcher.retryAfterMs("3"), "seconds");
		Check.equal(3000L, Dispatcher.retryAfterMs(" 3 "), "with spaces");
		Check.equal(0L, Dispatcher.retryAfterMs(null), "absent");
		Check.equal(0L, Dispatcher.retryAfterMs(""), "empty");
		Check.equal(0L, Dispatcher.retryAfterMs("soon"), "garbage");
		Check.equal(0L, Dispatcher.retryAfterMs("-5"), "negative");
		Check.equal(86_400_000L, Dispatcher.retryAfterMs("999999"), "capped at a day");
		String date = DateTimeFormatter.RFC_1123_DATE_TIME.format(ZonedDateTime.now(ZoneOffset.UTC).plusSeconds(10));
		long ms = Dispatcher.retryAfterMs(date);
		Check.isTrue(ms > 8000 && ms <= 10_000, "an HTTP date 10 s ahead: " + ms);
		String past = DateTimeFormatter.RFC_1123_DATE_TIME.format(ZonedDateTime.now(ZoneOffset.UTC).minusHours(1));
		Check.equal(0L, Dispatcher.retryAfterMs(past), "an HTTP date in the past");
	}

	// ---- 400: refused for good ----

	public void testBadRequestIsNotRetried() throws Exception {
		settings.put(Config.BATCH_SIZE, "3");
		settings.put(Config.BATCH_WAIT_MS, "300");
		DormantHook h = startHook();
		login(h, "good1");
		// A typed username with a NUL in it: PostgreSQL cannot store it, so login-ingest refuses
		// that event (and keeps it in its dead-letter queue) and accepts the others.
		User typed = new User();
		typed.setUsername("bad\u0000name");
		new DormantSessionListener(h).loggedInOrOut(typed, Event.LOGIN, Status.FAIL);
		login(h, "good2");
		Check.eventually(5000, "the refusal counted", () -> h.counters().failed == 1, h.counters());
		Check.equal(400, ingest.requests().get(0).status, "login-ingest answered 400");
		Check.equal(2L, h.counters().sent, "the accepted ones count as sent");
		Thread.sleep(300); // many retry periods (retryBaseMs=10): a retry would have happened by now
		Check.equal(1, ingest.requests().size(), "the refused batch is not resent");
		Check.isTrue(log.contains("WARN", "\"field\":\"username\""), "the answer, naming the field, is logged:\n" + log);
		Check.isTrue(log.contains("WARN", "1 of 3 events refused"), "the answer's summary is logged:\n" + log);
		login(h, "later");
		Check.eventually(5000, "a later event is sent", () -> h.counters().sent == 3, h.counters());
		Check.equal(2, ingest.requests().size(), "only the later event was sent next");
		Check.equal(List.of("good1", "good2", "later"), usernames(ingest.accepted()), "accepted events");
		Check.equal(0L, h.counters().spooled, "nothing spooled");
	}

	public void testBadRequestDuringReplayIsNotRetried() {
		int port = ingest.port();
		ingest.stop();
		DormantHook h = startHook();
		login(h, "good");
		User typed = new User();
		typed.setUsername("bad\u0000name");
		new DormantSessionListener(h).loggedInOrOut(typed, Event.LOGIN, Status.FAIL);
		Check.eventually(5000, "spooled", () -> h.counters().spooled == 2, h.counters());
		try {
			ingest.start(port);
		}
		catch (IOException e) {
			throw new AssertionError(e);
		}
		Check.eventually(5000, "replayed and refused", () -> h.counters().replayed == 1 && h.counters().failed == 1,
		    h.counters());
		Check.eventually(5000, "the spool is emptied", () -> segments().isEmpty(), segments());
		Check.equal(1, ingest.requests().size(), "the refused replay is not resent");
	}

	// ---- 413: split ----

	public void testTooLargeSplitsTheBatch() {
		settings.put(Config.BATCH_SIZE, "5");
		settings.put(Config.BATCH_WAIT_MS, "300");
		DormantHook h = startHook();
		login(h, "probe");
		Check.eventually(5000, "probe sent", () -> h.counters().sent == 1, h.counters());
		// Room for two events, not three: the real intake's body limit, made small.
		long one = ingest.requests().get(0).body.length();
		ingest.maxBodyBytes = 2 * one + one / 2;
		logins(h, names("u", 0, 5));
		Check.eventually(5000, "5 more sent", () -> h.counters().sent == 6, h.counters());
		List<FakeIngest.Request> reqs = ingest.requests();
		Check.equal(413, reqs.get(1).status, "the whole batch was too large: " + sizes());
		Check.equal("[1,5,2,3,1,2]", sizes(), "halves, and halves of what is still too large");
		List<String> got = usernames(ingest.accepted());
		Check.equal(names("u", 0, 5), got.subList(1, got.size()), "every event accepted once, in order");
		Check.equal(0L, h.counters().failed + h.counters().dropped + h.counters().spooled, "nothing lost or spooled");
	}

	public void testAnEventTooLargeAloneFailsAndIsNotRetried() throws Exception {
		// dormant.sourceUrl goes into every event: a huge one makes a single event too large.
		settings.put(Config.SOURCE_URL, "https://emr.example.org/" + "x".repeat(2000));
		ingest.maxBodyBytes = 2000;
		DormantHook h = startHook();
		login(h, "big");
		Check.eventually(5000, "failed", () -> h.counters().failed == 1, h.counters());
		Thread.sleep(300);
		Check.equal(1, ingest.requests().size(), "not resent");
		Check.equal(413, ingest.requests().get(0).status, "413");
		Check.isTrue(log.contains("WARN", "refused a single event as too large"), "logged:\n" + log);
		Check.equal(0L, h.counters().spooled, "not spooled");
	}

	// ---- 401, 403: fix the settings ----

	public void testUnauthorizedIsLoggedSpooledAndRetriedSlowly() throws Exception {
		settings.put(Config.TOKEN, "wrong-token");
		settings.put(Config.AUTH_RETRY_MS, "400");
		DormantHook h = startHook();
		logins(h, names("n", 0, 3));
		Check.eventually(5000, "spooled", () -> h.counters().spooled == 3, h.counters());
		Check.equal(401, ingest.requests().get(0).status, "login-ingest answered 401");
		Check.isTrue(log.contains("ERROR", "dormant.token"), "a loud error naming the setting:\n" + log);
		Check.isTrue(log.contains("ERROR", "not valid for any site"), "the server's answer is logged:\n" + log);
		Thread.sleep(1000);
		int tries = ingest.requests().size();
		Check.isTrue(tries >= 2 && tries <= 4, "retried about every 400 ms, not in a tight loop: " + tries + " requests");
		// The operator adds the token to dormant's sites file: the next slow retry gets through.
		ingest.tokens.put("wrong-token", FakeIngest.SITE);
		Check.eventually(5000, "replayed", () -> h.counters().replayed == 3, h.counters());
		Check.equal(0L, h.counters().sent + h.counters().dropped, "not sent live, not lost");
	}

	public void testFixingTheTokenSettingReplaysAtOnce() throws Exception {
		settings.put(Config.TOKEN, "wrong-token");
		settings.put(Config.AUTH_RETRY_MS, "60000");
		settings.put(Config.CONFIG_REFRESH_MS, "50");
		DormantHook h = startHook();
		login(h, "u1");
		Check.eventually(5000, "spooled", () -> h.counters().spooled == 1, h.counters());
		Thread.sleep(200);
		Check.equal(1, ingest.requests().size(), "no retry before dormant.authRetryMs");
		settings.put(Config.TOKEN, FakeIngest.TOKEN);
		Check.eventually(3000, "replayed once the setting is fixed, not after a minute",
		    () -> h.counters().replayed == 1, h.counters());
	}

	public void testForbiddenSiteIsLoggedAndSpooled() {
		// The token belongs to site-a; a hook configured as another site is refused (403).
		settings.put(Config.SITE, "site-b");
		settings.put(Config.CONFIG_REFRESH_MS, "50");
		DormantHook h = startHook();
		login(h, "u1");
		Check.eventually(5000, "spooled", () -> h.counters().spooled == 1, h.counters());
		Check.equal(403, ingest.requests().get(0).status, "login-ingest answered 403");
		Check.isTrue(log.contains("ERROR", "HTTP 403"), "a loud error with the status:\n" + log);
		Check.isTrue(log.contains("ERROR", "dormant.site"), "naming the setting:\n" + log);
		Check.isTrue(log.contains("ERROR", "token belongs to site"), "and the server's answer:\n" + log);
		settings.put(Config.SITE, FakeIngest.SITE);
		Check.eventually(5000, "replayed as site-a once fixed", () -> h.counters().replayed == 1, h.counters());
		Map<String, Object> e = ingest.accepted().get(0);
		Check.equal(FakeIngest.SITE, e.get("site"), "the site in force when sent");
	}

	public void testWrongPathIsAConfigurationProblem() {
		settings.put(Config.INGEST_URL, "http://127.0.0.1:" + ingest.port() + "/v1/event");
		DormantHook h = startHook();
		login(h, "u1");
		Check.eventually(5000, "spooled", () -> h.counters().spooled == 1, h.counters());
		Check.equal(404, ingest.requests().get(0).status, "404");
		Check.isTrue(log.contains("ERROR", "HTTP 404"), "logged as a configuration problem:\n" + log);
	}
}
