package org.openmrs.module.dormant;

import java.io.File;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.openmrs.api.context.Context;
import org.openmrs.util.OpenmrsUtil;

/**
 * Reads the dormant.* global properties. It runs on the dispatcher's own thread, never on a login
 * thread: that thread has no OpenMRS session of its own, so a read opens one (for the Hibernate
 * session the query needs) and closes it. AdministrationService.getGlobalProperty(String) is
 * documented in openmrs-core as having no authorization check, so no proxy privilege is needed.
 */
final class GlobalPropertyConfigSource implements ConfigSource {

	@Override
	public String get(String name) throws Exception {
		return read(Collections.singletonList(name)).get(name);
	}

	@Override
	public Map<String, String> read(List<String> names) {
		Map<String, String> out = new HashMap<>();
		Context.openSession();
		try {
			for (String name : names) {
				out.put(name, Context.getAdministrationService().getGlobalProperty(name));
			}
			String dir = out.get(Config.SPOOL_DIR);
			if (dir == null || dir.trim().isEmpty()) {
				out.put(Config.SPOOL_DIR, OpenmrsUtil.getApplicationDataDirectory() + File.separator + "dormant-spool");
			}
			return out;
		}
		finally {
			Context.closeSession();
		}
	}
}
