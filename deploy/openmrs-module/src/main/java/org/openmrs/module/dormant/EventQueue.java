package org.openmrs.module.dormant;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The bounded hand-off between login threads and the dispatcher. Lock-free so that a login never
 * waits on the dispatcher; the capacity is a plain volatile so the dispatcher can apply
 * {@code dormant.queueCapacity} whenever it reads the settings, without swapping queues.
 */
final class EventQueue {

	private final ConcurrentLinkedQueue<SessionRecord> items = new ConcurrentLinkedQueue<>();

	private final AtomicInteger size = new AtomicInteger();

	private volatile int capacity;

	/** Woken when a full batch is waiting, so batches do not sit out the whole batch wait. */
	private volatile Thread consumer;

	private volatile int wakeAt = Integer.MAX_VALUE;

	EventQueue(int capacity) {
		this.capacity = Math.max(1, capacity);
	}

	void setCapacity(int capacity) {
		this.capacity = Math.max(1, capacity);
	}

	int capacity() {
		return capacity;
	}

	void setConsumer(Thread t, int batchSize) {
		consumer = t;
		wakeAt = Math.max(1, batchSize);
	}

	/** Never blocks: false when full. */
	boolean offer(SessionRecord r) {
		int n = size.incrementAndGet();
		if (n > capacity) {
			size.decrementAndGet();
			return false;
		}
		items.add(r);
		if (n == wakeAt) {
			Thread t = consumer;
			if (t != null) {
				LockSupport.unpark(t);
			}
		}
		return true;
	}

	int size() {
		return size.get();
	}

	/** Takes up to max records, oldest first. */
	List<SessionRecord> drain(int max) {
		List<SessionRecord> out = new ArrayList<>(Math.min(max, 1024));
		while (out.size() < max) {
			SessionRecord r = items.poll();
			if (r == null) {
				break;
			}
			size.decrementAndGet();
			out.add(r);
		}
		return out;
	}
}
