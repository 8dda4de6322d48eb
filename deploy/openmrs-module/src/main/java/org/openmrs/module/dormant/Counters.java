package org.openmrs.module.dormant;

import java.util.concurrent.atomic.AtomicLong;

/**
 * What happened to the events: every event the listener saw ends up counted as sent, replayed,
 * failed or dropped (or is still in the queue or the spool), so an admin can tell from the log
 * whether logins are reaching dormant.
 */
public final class Counters {

	/** Accepted into the in-memory queue by the listener. */
	final AtomicLong queued = new AtomicLong();

	/** Delivered (2xx, or accepted in a 400 answer) straight from memory. */
	final AtomicLong sent = new AtomicLong();

	/** Lost: queue full, spool over its size limit (oldest dropped), or not describable at all. */
	final AtomicLong dropped = new AtomicLong();

	/** Written to the spool file because login-ingest could not take them (or is not configured). */
	final AtomicLong spooled = new AtomicLong();

	/** Delivered from the spool. */
	final AtomicLong replayed = new AtomicLong();

	/** Refused by login-ingest as invalid (400: kept in its dead-letter queue), or unreadable in the spool. */
	final AtomicLong failed = new AtomicLong();

	public Snapshot snapshot() {
		return new Snapshot(queued.get(), sent.get(), dropped.get(), spooled.get(), replayed.get(), failed.get());
	}

	/** An immutable reading of the counters. */
	public static final class Snapshot {

		public final long queued;

		public final long sent;

		public final long dropped;

		public final long spooled;

		public final long replayed;

		public final long failed;

		Snapshot(long queued, long sent, long dropped, long spooled, long replayed, long failed) {
			this.queued = queued;
			this.sent = sent;
			this.dropped = dropped;
			this.spooled = spooled;
			this.replayed = replayed;
			this.failed = failed;
		}

		@Override
		public boolean equals(Object o) {
			if (!(o instanceof Snapshot)) {
				return false;
			}
			Snapshot s = (Snapshot) o;
			return queued == s.queued && sent == s.sent && dropped == s.dropped && spooled == s.spooled
			        && replayed == s.replayed && failed == s.failed;
		}

		@Override
		public int hashCode() {
			return Long.hashCode(queued ^ sent * 31 ^ dropped * 961 ^ spooled * 29791 ^ replayed * 923521 ^ failed);
		}

		@Override
		public String toString() {
			return "queued=" + queued + " sent=" + sent + " dropped=" + dropped + " spooled=" + spooled + " replayed="
			        + replayed + " failed=" + failed;
		}
	}
}
