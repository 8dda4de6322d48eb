package org.openmrs.module.dormant;

/**
 * The few log calls the hook makes. In OpenMRS it is {@link Slf4jLog} (the OpenMRS log); tests pass
 * their own so they can assert what was logged without an slf4j binding.
 */
public interface Log {

	void info(String msg);

	void warn(String msg);

	void error(String msg, Throwable t);
}
