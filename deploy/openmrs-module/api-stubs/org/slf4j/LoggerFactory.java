// COMPILE-ONLY STUB mirroring slf4j-api 1.7 (which openmrs-api 2.2.0 depends on and OpenMRS ships):
// same package, names and signatures, for building with javac where Maven Central cannot be reached.
// Never packaged in the .omod; at run time OpenMRS supplies the real slf4j. Its members are pinned by
// ApiStubsTest.
// It throws: the tests use their own Log, never slf4j.
package org.slf4j;

/** Mirrors org.slf4j.LoggerFactory. */
public final class LoggerFactory {

	public static Logger getLogger(Class<?> clazz) {
		throw new UnsupportedOperationException("compile-only stub of org.slf4j.LoggerFactory");
	}
}
