package org.openmrs.module.dormant;

import java.util.ArrayList;
import java.util.List;

/** A Log the tests can read back; it also echoes to stderr when -Dverbose=true. */
final class MemoryLog implements Log {

	private final List<String> lines = new ArrayList<>();

	private final boolean verbose = Boolean.getBoolean("verbose");

	@Override
	public synchronized void info(String msg) {
		add("INFO " + msg);
	}

	@Override
	public synchronized void warn(String msg) {
		add("WARN " + msg);
	}

	@Override
	public synchronized void error(String msg, Throwable t) {
		add("ERROR " + msg + (t == null ? "" : " " + t));
	}

	private void add(String line) {
		lines.add(line);
		if (verbose) {
			System.err.println(line);
		}
	}

	synchronized boolean contains(String level, String part) {
		for (String l : lines) {
			if (l.startsWith(level + " ") && l.contains(part)) {
				return true;
			}
		}
		return false;
	}

	/** At any level. */
	synchronized boolean contains(String part) {
		return lines.stream().anyMatch(l -> l.contains(part));
	}

	synchronized int count(String part) {
		return (int) lines.stream().filter(l -> l.contains(part)).count();
	}

	@Override
	public synchronized String toString() {
		return String.join("\n", lines);
	}
}
