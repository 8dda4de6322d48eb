package org.openmrs.module.dormant;

import org.openmrs.User;
import org.openmrs.UserSessionListener.Event;
import org.openmrs.UserSessionListener.Status;

/**
 * The hook's shared state: the queue the listener fills, the counters, and the dispatcher the
 * activator starts and stops. One per module class loader, because OpenMRS creates the listener
 * (a Spring bean) and the activator separately and they need to meet somewhere.
 */
public final class DormantHook {

	/** Until the settings are read; dormant.queueCapacity then replaces it. */
	static final int DEFAULT_QUEUE_CAPACITY = 10_000;

	private static final DormantHook INSTANCE = new DormantHook(DEFAULT_QUEUE_CAPACITY);

	final EventQueue queue;

	final Counters counters = new Counters();

	private Dispatcher dispatcher;

	DormantHook(int queueCapacity) {
		this.queue = new EventQueue(queueCapacity);
	}

	public static DormantHook get() {
		return INSTANCE;
	}

	/** The counters now: queued, sent, dropped, spooled, replayed, failed. */
	public Counters.Snapshot counters() {
		return counters.snapshot();
	}

	/**
	 * Called on the login thread: a few field reads and a non-blocking offer. Never throws, never
	 * waits; when the queue is full the event is dropped and counted.
	 */
	void record(User user, Event event, Status status) {
		try {
			if (user == null && event == Event.LOGOUT) {
				// UserContext.logout() passes its current user, null when nobody was logged in:
				// no session ended, so there is nothing to report (and nothing was lost).
				return;
			}
			if (user == null || event == null || status == null) {
				counters.dropped.incrementAndGet();
				return;
			}
			boolean success = status == Status.SUCCESS;
			SessionRecord r = new SessionRecord(null, System.currentTimeMillis(), event == Event.LOGIN, success,
			        success ? user.getUuid() : null, user.getUsername(), user.getSystemId());
			if (queue.offer(r)) {
				counters.queued.incrementAndGet();
			} else {
				counters.dropped.incrementAndGet();
			}
		}
		catch (Throwable t) {
			// Whatever went wrong (a User whose getters throw, an OutOfMemoryError), the login goes on.
			try {
				counters.dropped.incrementAndGet();
			}
			catch (Throwable ignored) {
				// nothing more can be done without risking the login
			}
		}
	}

	/** Starts delivery; a second call while running does nothing. */
	synchronized void start(ConfigSource source, Log log) {
		if (dispatcher != null) {
			return;
		}
		dispatcher = new Dispatcher(queue, counters, source, log);
		dispatcher.start();
	}

	/** Flushes within timeoutMs (sending, else spooling) and stops delivery. */
	synchronized boolean stop(long timeoutMs) throws InterruptedException {
		if (dispatcher == null) {
			return true;
		}
		try {
			return dispatcher.stop(timeoutMs);
		}
		finally {
			dispatcher = null;
		}
	}
}
