package org.openmrs.module.dormant;

import java.util.Objects;
import java.util.function.BooleanSupplier;

/** Assertions for the tests (no JUnit here). */
final class Check {

	private Check() {
	}

	static void isTrue(boolean cond, String what) {
		if (!cond) {
			throw new AssertionError(what);
		}
	}

	static void equal(Object want, Object got, String what) {
		if (!Objects.equals(want, got)) {
			throw new AssertionError(what + ": want <" + want + "> got <" + got + ">");
		}
	}

	/** Polls until cond holds; fails with what (and the state) after timeoutMs. */
	static void eventually(long timeoutMs, String what, BooleanSupplier cond, Object state) {
		long end = System.nanoTime() + timeoutMs * 1_000_000;
		while (!cond.getAsBoolean()) {
			if (System.nanoTime() > end) {
				throw new AssertionError("timed out after " + timeoutMs + " ms waiting for " + what + "; state: " + state);
			}
			try {
				Thread.sleep(5);
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
				throw new AssertionError("interrupted");
			}
		}
	}
}
