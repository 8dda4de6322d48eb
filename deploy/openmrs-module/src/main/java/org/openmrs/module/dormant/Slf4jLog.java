package org.openmrs.module.dormant;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Writes to the OpenMRS log through slf4j, which OpenMRS ships and configures. */
final class Slf4jLog implements Log {

	private final Logger log = LoggerFactory.getLogger(DormantHook.class);

	@Override
	public void info(String msg) {
		log.info(msg);
	}

	@Override
	public void warn(String msg) {
		log.warn(msg);
	}

	@Override
	public void error(String msg, Throwable t) {
		if (t == null) {
			log.error(msg);
		} else {
			log.error(msg, t);
		}
	}
}
