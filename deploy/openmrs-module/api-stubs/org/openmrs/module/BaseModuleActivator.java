// COMPILE-ONLY STUB mirroring openmrs-core (org.openmrs.api:openmrs-api 2.2.0, the pom.xml dependency):
// same package, names and signatures as the real type (checked against openmrs-core's source; the list
// is pinned by ApiStubsTest), for building the dormant module with javac where Maven Central cannot be
// reached. It is never packaged in the .omod; at run time OpenMRS supplies the real class.
package org.openmrs.module;

/** Mirrors org.openmrs.module.BaseModuleActivator: every callback a no-op, overridden as needed. */
public abstract class BaseModuleActivator implements ModuleActivator {

	@Override
	public void contextRefreshed() {
	}

	@Override
	public void started() {
	}

	@Override
	public void stopped() {
	}

	@Override
	public void willRefreshContext() {
	}

	@Override
	public void willStart() {
	}

	@Override
	public void willStop() {
	}
}
