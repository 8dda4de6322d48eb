package org.openmrs.module.dormant;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * Events login-ingest cannot take yet: kept on disk, bounded, replayed oldest first, surviving a
 * restart of OpenMRS, and flushed (sent, else spooled) within a deadline when the module stops.
 */
public class SpoolTest extends HookFixture {

	public SpoolTest() throws IOException {
		super();
	}

	// ---- outage and replay ----

	public void testOutageSpoolsThenReplaysInOrder() throws Exception {
		settings.put(Config.BATCH_SIZE, "50");
		int port = ingest.port();
		ingest.stop();
		DormantHook h = startHook();
		logins(h, names("u", 0, 250));
		Check.eventually(10000, "all 250 spooled", () -> h.counters().spooled == 250, h.counters());
		Check.isTrue(!segments().isEmpty(), "spool files exist");
		Check.isTrue(log.contains("WARN", "login-ingest unavailable"), "the outage is logged:\n" + log);
		Check.isTrue(log.contains("WARN", "keeping 50 events in the spool"), "with what was kept:\n" + log);
		ingest.start(port);
		Check.eventually(10000, "all 250 replayed", () -> h.counters().replayed == 250, h.counters());
		List<Map<String, Object>> got = ingest.accepted();
		Check.equal(names("u", 0, 250), usernames(got), "replayed oldest first, each once");
		Check.equal(250, new HashSet<>(ids(got)).size(), "distinct ids");
		Check.equal(0L, h.counters().dropped + h.counters().failed + h.counters().sent, "nothing lost or sent live");
		Check.eventually(5000, "the recovery is logged", () -> log.contains("INFO", "the spool is empty"), log);
		// New events after the replay go straight out again.
		login(h, "after");
		Check.eventually(5000, "live again", () -> h.counters().sent == 1, h.counters());
		Check.equal(List.of(), segments(), "an empty spool keeps no segment files");
	}

	public void testSpoolSurvivesRestartInOrderAndSkipsATornLine() throws Exception {
		int port = ingest.port();
		ingest.stop();
		DormantHook first = startHook();
		logins(first, names("r", 0, 20));
		Check.eventually(10000, "20 spooled", () -> first.counters().spooled == 20, first.counters());
		Check.isTrue(first.stop(5000), "first dispatcher stopped");
		// A crash in the middle of a write leaves an unterminated line at the end.
		List<Path> segs = segments();
		Check.isTrue(!segs.isEmpty(), "spool on disk after stop");
		Files.write(segs.get(segs.size() - 1), "{\"v\":\"1\",\"id\":\"torn".getBytes(StandardCharsets.UTF_8),
		    StandardOpenOption.APPEND);

		ingest.start(port);
		DormantHook second = startHook(); // OpenMRS restarted: a new hook, the same spool folder
		login(second, "after-restart");
		Check.eventually(10000, "21 replayed after the restart", () -> second.counters().replayed == 21,
		    second.counters());
		List<String> want = new ArrayList<>(names("r", 0, 20));
		want.add("after-restart");
		Check.equal(want, usernames(ingest.accepted()), "old events first, once each, the new one behind them");
		// The torn line is counted (and logged) just after the batch it was read with is.
		Check.eventually(5000, "the torn line is skipped and counted", () -> second.counters().failed == 1,
		    second.counters());
		Check.equal(0L, second.counters().sent, "the new event waited behind the old ones");
		Check.isTrue(log.contains("INFO", "from before; replaying them first"), "the replay is logged:\n" + log);
		Check.eventually(5000, "the torn line is logged", () -> log.contains("WARN", "skipped 1 damaged lines"), log);
	}

	public void testFullSpoolDropsTheOldestAndCountsThem() throws Exception {
		settings.put(Config.SPOOL_MAX_BYTES, "8192");
		settings.put(Config.MAX_ATTEMPTS, "1");
		settings.put(Config.BATCH_SIZE, "10");
		int port = ingest.port();
		ingest.stop();
		DormantHook h = startHook();
		int n = 200;
		logins(h, names("u", 0, n));
		Check.eventually(10000, "all written", () -> h.counters().spooled == n && h.queue.size() == 0, h.counters());
		Check.isTrue(h.counters().dropped > 0, "the oldest were dropped: " + h.counters());
		long bytes = segmentBytes();
		Check.isTrue(bytes <= 8192, "the spool stays within dormant.spoolMaxBytes: " + bytes);
		Check.isTrue(log.contains("WARN", "dropped its oldest"), "drops are logged:\n" + log);

		ingest.start(port);
		long dropped = h.counters().dropped;
		Check.eventually(10000, "the rest replayed", () -> h.counters().replayed == n - dropped, h.counters());
		List<String> got = usernames(ingest.accepted());
		Check.isTrue(!got.isEmpty(), "something kept");
		Check.equal(names("u", n - got.size(), n), got, "the newest kept, in order");
		Check.equal(dropped, h.counters().dropped, "nothing more dropped while replaying");
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

	// ---- stopping the module ----

	public void testStopFlushesWithinTheDeadline() throws Exception {
		// A working server and a long batch wait: stop() must send what waits instead of losing it.
		settings.put(Config.BATCH_WAIT_MS, "60000");
		DormantHook h = startHook();
		Check.eventually(5000, "configured", () -> log.contains("INFO", "sending login events"), log);
		logins(h, names("s", 0, 5));
		Thread.sleep(100);
		Check.equal(0, ingest.requests().size(), "still waiting for a batch");
		long t0 = System.nanoTime();
		Check.isTrue(h.stop(3000), "stopped in time");
		long ms = ms(t0, System.nanoTime());
		Check.isTrue(ms < 2000, "the flush took " + ms + " ms");
		Check.equal(5L, h.counters().sent, "flushed on stop");
		Check.equal(names("s", 0, 5), usernames(ingest.accepted()), "flushed in order");
		Check.isTrue(log.contains("INFO", "queued=5 sent=5"), "the counters are logged at stop:\n" + log);
	}

	public void testStopSpoolsWhenIngestIsDownAndTheNextStartSendsThem() throws Exception {
		settings.put(Config.BATCH_WAIT_MS, "60000");
		int port = ingest.port();
		ingest.stop();
		DormantHook h = startHook();
		Check.eventually(5000, "configured", () -> log.contains("INFO", "sending login events"), log);
		logins(h, names("s", 0, 5));
		Thread.sleep(100);
		long t0 = System.nanoTime();
		Check.isTrue(h.stop(3000), "stopped in time");
		Check.isTrue(ms(t0, System.nanoTime()) < 3000, "within the deadline");
		Check.equal(5L, h.counters().spooled, "spooled on stop");
		ingest.start(port);
		DormantHook next = startHook();
		Check.eventually(5000, "sent by the next start", () -> next.counters().replayed == 5, next.counters());
		Check.equal(names("s", 0, 5), usernames(ingest.accepted()), "in order");
	}

	public void testStopGivesUpOnAHangingServerAndSpools() throws Exception {
		ingest.delayMs = 10_000;
		settings.put(Config.REQUEST_TIMEOUT_MS, "20000");
		DormantHook h = startHook();
		login(h, "u0");
		Check.eventually(5000, "the POST is hanging", () -> ingest.requests().size() == 1, h.counters());
		logins(h, names("w", 0, 1000));
		long t0 = System.nanoTime();
		boolean stopped = h.stop(300);
		long stopMs = ms(t0, System.nanoTime());
		Check.isTrue(stopped, "stopped");
		Check.isTrue(stopMs < 3000, "stop took " + stopMs + " ms");
		Check.equal(1001L, h.counters().spooled, "everything kept in the spool for the next start");
		Set<String> files = new HashSet<>();
		segments().forEach(p -> files.add(p.getFileName().toString()));
		Check.isTrue(!files.isEmpty(), "on disk: " + files);
	}
}
