// COMPILE-ONLY STUB mirroring openmrs-core (org.openmrs.api:openmrs-api 2.2.0, the pom.xml dependency):
// same package, names and signatures as the real type (checked against openmrs-core's source; the list
// is pinned by ApiStubsTest), for building the dormant module with javac where Maven Central cannot be
// reached. It is never packaged in the .omod; at run time OpenMRS supplies the real class.
package org.openmrs;

/** Mirrors org.openmrs.UserSessionListener (since 2.2). */
public interface UserSessionListener {

	public void loggedInOrOut(User user, Event event, Status status);

	public enum Event {
		LOGIN, LOGOUT
	}

	public enum Status {
		SUCCESS, FAIL
	}
}
