// COMPILE-ONLY STUB mirroring openmrs-core (org.openmrs.api:openmrs-api 2.2.0, the pom.xml dependency):
// same package, names and signatures as the real type (checked against openmrs-core's source; the list
// is pinned by ApiStubsTest), for building the dormant module with javac where Maven Central cannot be
// reached. It is never packaged in the .omod; at run time OpenMRS supplies the real class.
// The module's tests also construct users with it, so the uuid behaves as in core: a random
// UUID until set (that is why a failed login's unsaved User has a meaningless uuid).
// Core's class also implements OpenmrsObject (getId/setId, which the module never calls), left out.
package org.openmrs;

import java.util.UUID;

/** Mirrors org.openmrs.BaseOpenmrsObject: only the uuid accessors. */
public abstract class BaseOpenmrsObject {

	private String uuid = UUID.randomUUID().toString();

	public String getUuid() {
		return uuid;
	}

	public void setUuid(String uuid) {
		this.uuid = uuid;
	}
}
