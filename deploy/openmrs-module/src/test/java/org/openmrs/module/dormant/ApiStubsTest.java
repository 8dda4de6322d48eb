package org.openmrs.module.dormant;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * The compile-only stubs in api-stubs/ declare exactly these public members, each checked against
 * openmrs-core (api/src/main/java/...: UserSessionListener, User, BaseOpenmrsObject,
 * api/AdministrationService, api/context/Context, util/OpenmrsUtil, module/ModuleActivator,
 * module/BaseModuleActivator) and slf4j-api 1.7. A method added to a stub without being in the real
 * type would compile here and fail in OpenMRS with NoSuchMethodError, so changing a stub means
 * checking the real signature and updating this list.
 */
public class ApiStubsTest {

	private static final Object[][] STUBS = {
	        { "org.openmrs.UserSessionListener", "interface",
	                List.of("void loggedInOrOut(org.openmrs.User,org.openmrs.UserSessionListener$Event,"
	                        + "org.openmrs.UserSessionListener$Status)") },
	        { "org.openmrs.UserSessionListener$Event", "enum", List.of() },
	        { "org.openmrs.UserSessionListener$Status", "enum", List.of() },
	        { "org.openmrs.BaseOpenmrsObject", "abstract class",
	                List.of("java.lang.String getUuid()", "void setUuid(java.lang.String)") },
	        { "org.openmrs.User", "class", List.of("java.lang.String getSystemId()", "void setSystemId(java.lang.String)",
	            "java.lang.String getUsername()", "void setUsername(java.lang.String)") },
	        { "org.openmrs.api.AdministrationService", "interface",
	                List.of("java.lang.String getGlobalProperty(java.lang.String)") },
	        { "org.openmrs.api.context.Context", "class",
	                List.of("static org.openmrs.api.AdministrationService getAdministrationService()",
	                    "static void openSession()", "static void closeSession()") },
	        { "org.openmrs.util.OpenmrsUtil", "class", List.of("static java.lang.String getApplicationDataDirectory()") },
	        { "org.openmrs.module.ModuleActivator", "interface",
	                List.of("void contextRefreshed()", "void started()", "void stopped()", "void willRefreshContext()",
	                    "void willStart()", "void willStop()") },
	        { "org.openmrs.module.BaseModuleActivator", "abstract class",
	                List.of("void contextRefreshed()", "void started()", "void stopped()", "void willRefreshContext()",
	                    "void willStart()", "void willStop()") },
	        { "org.slf4j.Logger", "interface", List.of("void info(java.lang.String)", "void warn(java.lang.String)",
	            "void error(java.lang.String)", "void error(java.lang.String,java.lang.Throwable)") },
	        { "org.slf4j.LoggerFactory", "class", List.of("static org.slf4j.Logger getLogger(java.lang.Class)") }, };

	public void testStubsDeclareTheRealSignatures() throws Exception {
		for (Object[] s : STUBS) {
			Class<?> c = Class.forName((String) s[0]);
			Check.isTrue(Modifier.isPublic(c.getModifiers()), s[0] + " is public");
			String kind = c.isEnum() ? "enum"
			        : c.isInterface() ? "interface" : Modifier.isAbstract(c.getModifiers()) ? "abstract class" : "class";
			Check.equal(s[1], kind, s[0] + " kind");
			@SuppressWarnings("unchecked")
			Set<String> want = new TreeSet<>((List<String>) s[2]);
			Set<String> got = c.isEnum() ? new TreeSet<>()
			        : Arrays.stream(c.getDeclaredMethods()).filter(m -> Modifier.isPublic(m.getModifiers()))
			                .map(ApiStubsTest::signature).collect(Collectors.toCollection(TreeSet::new));
			Check.equal(want, got, s[0] + " public methods");
		}
		Check.equal("[LOGIN, LOGOUT]", Arrays.toString(Class.forName("org.openmrs.UserSessionListener$Event")
		        .getEnumConstants()), "UserSessionListener.Event");
		Check.equal("[SUCCESS, FAIL]", Arrays.toString(Class.forName("org.openmrs.UserSessionListener$Status")
		        .getEnumConstants()), "UserSessionListener.Status");
		// In core, User extends BaseChangeableOpenmrsMetadata extends BaseOpenmrsMetadata extends
		// BaseOpenmrsObject: getUuid() resolves through that chain at run time.
		Check.isTrue(Class.forName("org.openmrs.BaseOpenmrsObject").isAssignableFrom(Class.forName("org.openmrs.User")),
		    "User is a BaseOpenmrsObject");
		Check.isTrue(Class.forName("org.openmrs.module.ModuleActivator")
		        .isAssignableFrom(Class.forName("org.openmrs.module.BaseModuleActivator")), "BaseModuleActivator");
		Class.forName("org.openmrs.User").getConstructor();
	}

	public void testTheModuleUsesTheApiAsOpenMRSCallsIt() throws Exception {
		// OpenMRS finds the listener as a Spring bean (public no-arg constructor) and the activator by
		// the class name in config.xml (public no-arg constructor too).
		Check.isTrue(org.openmrs.UserSessionListener.class.isAssignableFrom(DormantSessionListener.class), "listener");
		DormantSessionListener.class.getConstructor();
		Check.isTrue(org.openmrs.module.BaseModuleActivator.class.isAssignableFrom(DormantActivator.class), "activator");
		DormantActivator.class.getConstructor();
	}

	private static String signature(Method m) {
		return (Modifier.isStatic(m.getModifiers()) ? "static " : "") + m.getReturnType().getName() + " " + m.getName()
		        + "(" + Arrays.stream(m.getParameterTypes()).map(Class::getName).collect(Collectors.joining(",")) + ")";
	}
}
