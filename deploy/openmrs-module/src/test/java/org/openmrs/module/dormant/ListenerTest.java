package org.openmrs.module.dormant;

import java.io.IOException;
import java.util.UUID;

import org.openmrs.User;
import org.openmrs.UserSessionListener;
import org.openmrs.UserSessionListener.Event;
import org.openmrs.UserSessionListener.Status;

/**
 * The listener on the login thread: OpenMRS calls it inside authenticate/logout with no try/catch,
 * so it must never throw and never wait, and the queue it fills is bounded.
 */
public class ListenerTest extends HookFixture {

	public ListenerTest() throws IOException {
		super();
	}

	public void testNeverThrowsWhateverOpenMRSPasses() {
		DormantHook h = idleHook(10);
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
		Check.equal(5L, h.counters().dropped, "a user whose getters throw is counted, not thrown");
		new DormantSessionListener(null).loggedInOrOut(broken, Event.LOGIN, Status.SUCCESS);
		Check.equal(0L, h.counters().queued, "nothing queued");
		Check.equal(0, h.queue.size(), "nothing in the queue");
	}

	public void testFullQueueDropsAndCountsWithoutSlowingLogins() {
		User u = user(UUID.randomUUID().toString(), "busy", "1-1");
		// Warm up the JIT on another hook so the timing measures the steady state.
		UserSessionListener warm = new DormantSessionListener(idleHook(100));
		for (int i = 0; i < 1000; i++) {
			warm.loggedInOrOut(u, Event.LOGIN, Status.SUCCESS);
		}
		// No dispatcher: nothing drains the queue, the worst case for the login thread.
		DormantHook h = idleHook(100);
		UserSessionListener l = new DormantSessionListener(h);
		long t0 = System.nanoTime();
		for (int i = 0; i < 10_000; i++) {
			l.loggedInOrOut(u, Event.LOGIN, Status.SUCCESS);
		}
		long us = (System.nanoTime() - t0) / 1_000;
		System.out.println("  measured: 10,000 loggedInOrOut calls against a full queue took " + us + " us");
		Check.isTrue(us < 500_000, "10,000 calls took " + us + " us");
		Check.equal(100L, h.counters().queued, "queued up to capacity");
		Check.equal(9_900L, h.counters().dropped, "the rest dropped and counted");
		Check.equal(100, h.queue.size(), "the queue holds its capacity, no more");
	}

	public void testQueueCapacityComesFromTheSettings() {
		// A long batch wait and a big batch keep the events in the queue: the capacity the listener
		// sees is the setting's, applied by the dispatcher when it reads the settings.
		settings.put(Config.QUEUE_CAPACITY, "7");
		settings.put(Config.BATCH_WAIT_MS, "60000");
		settings.put(Config.BATCH_SIZE, "1000");
		DormantHook h = startHook();
		Check.eventually(5000, "settings applied", () -> h.queue.capacity() == 7, h.queue.capacity());
		for (String n : names("q", 0, 20)) {
			login(h, n);
		}
		Check.equal(7L, h.counters().queued, "queued up to dormant.queueCapacity");
		Check.equal(13L, h.counters().dropped, "the rest dropped and counted");
	}

	public void testActivatorNeverThrows() {
		// Here OpenMRS's Context and slf4j are compile-only stubs that throw, as a half-started
		// OpenMRS might: the module failing to start or stop must not take OpenMRS down with it.
		DormantActivator a = new DormantActivator();
		a.willStart();
		a.started();
		a.willStop();
		a.stopped();
		a.stopped();
	}

	public void testLoginsAreNotSlowedWhileTheDispatcherIsStuck() throws InterruptedException {
		ingest.delayMs = 10_000;
		settings.put(Config.REQUEST_TIMEOUT_MS, "20000");
		DormantHook h = startHook();
		login(h, "first");
		Check.eventually(5000, "the POST is hanging", () -> ingest.requests().size() == 1, h.counters());
		long t0 = System.nanoTime();
		logins(h, names("w", 0, 1000));
		long ms = ms(t0, System.nanoTime());
		Check.isTrue(ms < 500, "1000 logins took " + ms + " ms with the dispatcher blocked");
		Check.equal(1001L, h.counters().queued, "all queued");
		// Not the fixture's 2 s: the POST hangs 10 s, and what stop() then does is SpoolTest's.
		h.stop(100);
	}
}
