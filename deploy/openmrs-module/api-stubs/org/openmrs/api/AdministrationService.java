// COMPILE-ONLY STUB mirroring openmrs-core (org.openmrs.api:openmrs-api 2.2.0, the pom.xml dependency):
// same package, names and signatures as the real type (checked against openmrs-core's source; the list
// is pinned by ApiStubsTest), for building the dormant module with javac where Maven Central cannot be
// reached. It is never packaged in the .omod; at run time OpenMRS supplies the real class.
// Core's interface extends OpenmrsService (onStartup/onShutdown, which the module never calls), left out.
package org.openmrs.api;

/** Mirrors org.openmrs.api.AdministrationService: only the global property read the hook uses. */
public interface AdministrationService {

	/** Core documents this method as having no authorization check. */
	public String getGlobalProperty(String propertyName);
}
