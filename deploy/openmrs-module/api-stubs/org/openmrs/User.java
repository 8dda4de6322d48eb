// COMPILE-ONLY STUB mirroring openmrs-core (org.openmrs.api:openmrs-api 2.2.0, the pom.xml dependency):
// same package, names and signatures as the real type (checked against openmrs-core's source; the list
// is pinned by ApiStubsTest), for building the dormant module with javac where Maven Central cannot be
// reached. It is never packaged in the .omod; at run time OpenMRS supplies the real class.
// Core's User extends BaseChangeableOpenmrsMetadata (which extends BaseOpenmrsObject); the
// intermediate classes are left out because the module calls none of their methods, and the JVM
// resolves getUuid() through the real hierarchy at run time.
package org.openmrs;

/** Mirrors org.openmrs.User: the accessors the dormant hook reads (and the tests set). */
public class User extends BaseOpenmrsObject {

	private String systemId;

	private String username;

	public User() {
	}

	public String getSystemId() {
		return systemId;
	}

	public void setSystemId(String systemId) {
		this.systemId = systemId;
	}

	public String getUsername() {
		return username;
	}

	public void setUsername(String username) {
		this.username = username;
	}
}
