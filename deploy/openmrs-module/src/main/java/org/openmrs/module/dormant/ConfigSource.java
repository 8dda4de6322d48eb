package org.openmrs.module.dormant;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the settings come from: OpenMRS global properties in production
 * ({@link GlobalPropertyConfigSource}), a map in tests. Returns null for an unset name.
 */
@FunctionalInterface
public interface ConfigSource {

	String get(String name) throws Exception;

	/** Reads several settings at once; a source with a per-read cost (a database session) overrides it. */
	default Map<String, String> read(List<String> names) throws Exception {
		Map<String, String> out = new HashMap<>();
		for (String n : names) {
			out.put(n, get(n));
		}
		return out;
	}
}
