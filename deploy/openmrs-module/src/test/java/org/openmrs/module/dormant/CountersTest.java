package org.openmrs.module.dormant;

import java.io.IOException;
import java.util.UUID;

import org.openmrs.User;
import org.openmrs.UserSessionListener.Event;
import org.openmrs.UserSessionListener.Status;

/**
 * The counters an admin reads in the log (README, "Check that it works"): every event the listener
 * took ends up sent, replayed, failed or dropped, each counted once.
 */
public class CountersTest extends HookFixture {

	public CountersTest() throws IOException {
		super();
	}

	public void testEveryEventIsAccountedForOnce() throws Exception {
		settings.put(Config.BATCH_SIZE, "4");
		settings.put(Config.BATCH_WAIT_MS, "100");
		DormantHook h = startHook();
		// Live: three accepted, one refused (a NUL login-ingest cannot store).
		logins(h, names("live", 0, 3));
		User nul = new User();
		nul.setUsername("n\u0000l");
		new DormantSessionListener(h).loggedInOrOut(nul, Event.LOGIN, Status.FAIL);
		Check.eventually(5000, "live batch answered", () -> h.counters().sent == 3 && h.counters().failed == 1,
		    h.counters());
		// Neither a username nor a system id: nothing to report, dropped and counted.
		new DormantSessionListener(h).loggedInOrOut(user(UUID.randomUUID().toString(), null, null), Event.LOGIN,
		    Status.SUCCESS);
		Check.eventually(5000, "the unnamed event dropped", () -> h.counters().dropped == 1, h.counters());
		Check.eventually(5000, "the drop is logged",
		    () -> log.contains("WARN", "dropped 1 events with neither a username nor a system id"), log);
		// Outage: spooled, then replayed.
		int port = ingest.port();
		ingest.stop();
		logins(h, names("out", 0, 4));
		Check.eventually(5000, "spooled", () -> h.counters().spooled == 4, h.counters());
		ingest.start(port);
		Check.eventually(5000, "replayed", () -> h.counters().replayed == 4, h.counters());

		Counters.Snapshot s = h.counters();
		Check.equal(9L, s.queued, "queued: " + s);
		Check.equal(3L, s.sent, "sent: " + s);
		Check.equal(1L, s.failed, "failed: " + s);
		Check.equal(1L, s.dropped, "dropped: " + s);
		Check.equal(4L, s.spooled, "spooled: " + s);
		Check.equal(4L, s.replayed, "replayed: " + s);
		Check.equal(s.queued, s.sent + s.replayed + s.failed + s.dropped, "every queued event has one outcome");
		Check.equal(7, ingest.accepted().size(), "what login-ingest accepted agrees with sent + replayed");
		Check.isTrue(h.stop(2000), "stopped");
		Check.isTrue(log.contains("INFO", "dormant: queued=9 sent=3 dropped=1 spooled=4 replayed=4 failed=1 inQueue=0"
		        + " spoolBytes=0"), "the counters line admins read:\n" + log);
	}

	public void testCountersAreLoggedWhenTheyChangeOnly() throws Exception {
		settings.put(Config.STATS_LOG_MS, "50");
		DormantHook h = startHook();
		Check.eventually(5000, "the first counters line", () -> log.count("queued=") == 1, log);
		Thread.sleep(300);
		Check.equal(1, log.count("queued="), "no line while nothing changes");
		login(h, "u");
		Check.eventually(5000, "a line for the change", () -> log.count("queued=1 sent=1") == 1, log);
		// A tick may also catch the event queued but not yet sent: at most one line per reading.
		int lines = log.count("queued=");
		Check.isTrue(lines == 2 || lines == 3, "a line per change:\n" + log);
		Thread.sleep(300);
		Check.equal(lines, log.count("queued="), "then none while nothing changes:\n" + log);
	}

	public void testSnapshotEqualityAndText() {
		Counters c = new Counters();
		Counters.Snapshot a = c.snapshot();
		Check.equal(a, c.snapshot(), "equal readings");
		Check.equal(a.hashCode(), c.snapshot().hashCode(), "equal hashes");
		c.failed.incrementAndGet();
		Check.isTrue(!a.equals(c.snapshot()), "a change is a different reading");
		Check.equal("queued=0 sent=0 dropped=0 spooled=0 replayed=0 failed=1", c.snapshot().toString(), "text");
	}
}
