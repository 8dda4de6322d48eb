// COMPILE-ONLY STUB mirroring slf4j-api 1.7 (which openmrs-api 2.2.0 depends on and OpenMRS ships):
// same package, names and signatures, for building with javac where Maven Central cannot be reached.
// Never packaged in the .omod; at run time OpenMRS supplies the real slf4j. Its members are pinned by
// ApiStubsTest.
package org.slf4j;

/** Mirrors org.slf4j.Logger: the methods the hook's Slf4jLog calls. */
public interface Logger {

	public void info(String msg);

	public void warn(String msg);

	public void error(String msg);

	public void error(String msg, Throwable t);
}
