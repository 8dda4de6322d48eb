package org.openmrs.module.dormant;

import org.openmrs.module.BaseModuleActivator;

/** Starts the event dispatcher with the module and flushes it, within a deadline, when the module stops. */
public class DormantActivator extends BaseModuleActivator {

	/** How long stopping the module (or OpenMRS) may wait for events to be sent or spooled. */
	static final long FLUSH_TIMEOUT_MS = 10_000;

	@Override
	public void started() {
		try {
			DormantHook.get().start(new GlobalPropertyConfigSource(), new Slf4jLog());
			new Slf4jLog().info("dormant: login hook started");
		}
		catch (Throwable t) {
			// The module failing to start must not take OpenMRS down with it.
			logError("dormant: the login hook could not start", t);
		}
	}

	@Override
	public void stopped() {
		try {
			if (!DormantHook.get().stop(FLUSH_TIMEOUT_MS)) {
				logError("dormant: the dispatcher did not stop within " + FLUSH_TIMEOUT_MS + " ms", null);
			}
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
		}
		catch (Throwable t) {
			logError("dormant: error while stopping the login hook", t);
		}
	}

	private static void logError(String msg, Throwable t) {
		try {
			new Slf4jLog().error(msg, t);
		}
		catch (Throwable ignored) {
			// no logging available: nothing else to do
		}
	}
}
