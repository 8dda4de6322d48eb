// COMPILE-ONLY STUB mirroring openmrs-core (org.openmrs.api:openmrs-api 2.2.0, the pom.xml dependency):
// same package, names and signatures as the real type (checked against openmrs-core's source; the list
// is pinned by ApiStubsTest), for building the dormant module with javac where Maven Central cannot be
// reached. It is never packaged in the .omod; at run time OpenMRS supplies the real class.
// Every method throws: nothing in the tests may depend on a pretend OpenMRS context.
package org.openmrs.api.context;

import org.openmrs.api.AdministrationService;

/** Mirrors org.openmrs.api.context.Context: the session and service accessors the hook uses. */
public class Context {

	public static AdministrationService getAdministrationService() {
		throw new UnsupportedOperationException("compile-only stub of org.openmrs.api.context.Context");
	}

	public static void openSession() {
		throw new UnsupportedOperationException("compile-only stub of org.openmrs.api.context.Context");
	}

	public static void closeSession() {
		throw new UnsupportedOperationException("compile-only stub of org.openmrs.api.context.Context");
	}
}
