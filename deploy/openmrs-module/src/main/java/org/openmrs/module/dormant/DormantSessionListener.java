package org.openmrs.module.dormant;

import org.openmrs.User;
import org.openmrs.UserSessionListener;

/**
 * Turns each login and logout into an event for dormant. OpenMRS calls this synchronously inside
 * authenticate/logout with no try/catch around it, so it must neither throw nor wait: it only
 * hands the event to a bounded queue that a background thread drains.
 * <p>
 * Declared as a bean in moduleApplicationContext.xml, which is how
 * Context.getRegisteredComponents(UserSessionListener.class) finds it.
 */
public class DormantSessionListener implements UserSessionListener {

	private final DormantHook hook;

	public DormantSessionListener() {
		this(DormantHook.get());
	}

	DormantSessionListener(DormantHook hook) {
		this.hook = hook;
	}

	@Override
	public void loggedInOrOut(User user, Event event, Status status) {
		try {
			hook.record(user, event, status);
		}
		catch (Throwable t) {
			// record() already catches everything; this guards against a null hook or a linkage error.
		}
	}
}
