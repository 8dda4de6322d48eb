package org.openmrs.module.dormant;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * A test runner in plain Java (no JUnit jar is reachable here): runs every public method named
 * test* of the given classes on a fresh instance, each with a time limit, and prints
 * "N passed, N failed" as its last line. Exits 1 if any failed, 2 if none ran.
 * Arguments: class names, optionally followed by a name filter (-only=substring of Class.testMethod).
 */
public final class TestRunner {

	private static final long TIME_LIMIT_MS = 60_000;

	public static void main(String[] args) throws Exception {
		String only = null;
		List<Class<?>> classes = new ArrayList<>();
		for (String a : args) {
			if (a.startsWith("-only=")) {
				only = a.substring(6);
			} else {
				classes.add(Class.forName(a));
			}
		}
		int passed = 0;
		int failed = 0;
		List<String> failures = new ArrayList<>();
		for (Class<?> c : classes) {
			Method[] ms = c.getDeclaredMethods();
			Arrays.sort(ms, Comparator.comparing(Method::getName));
			for (Method m : ms) {
				String name = c.getSimpleName() + "." + m.getName();
				if (!m.getName().startsWith("test") || m.getParameterCount() != 0 || !Modifier.isPublic(m.getModifiers())
				        || (only != null && !name.contains(only))) {
					continue;
				}
				long t0 = System.nanoTime();
				Throwable err = run(c, m);
				long ms0 = (System.nanoTime() - t0) / 1_000_000;
				if (err == null) {
					passed++;
					System.out.println("PASS " + name + " (" + ms0 + " ms)");
				} else {
					failed++;
					failures.add(name);
					System.out.println("FAIL " + name + " (" + ms0 + " ms): " + err);
					err.printStackTrace(System.out);
				}
			}
		}
		if (!failures.isEmpty()) {
			System.out.println("failed: " + String.join(", ", failures));
		}
		System.out.println(passed + " passed, " + failed + " failed");
		System.out.flush();
		System.exit(failed > 0 ? 1 : passed == 0 ? 2 : 0);
	}

	private static Throwable run(Class<?> c, Method m) throws InterruptedException {
		Throwable[] err = new Throwable[1];
		Thread t = new Thread(() -> {
			try {
				Object o = c.getDeclaredConstructor().newInstance();
				try {
					m.invoke(o);
				}
				finally {
					if (o instanceof AutoCloseable) {
						((AutoCloseable) o).close();
					}
				}
			}
			catch (InvocationTargetException e) {
				err[0] = e.getCause();
			}
			catch (Throwable e) {
				err[0] = e;
			}
		}, "test-" + m.getName());
		t.setDaemon(true);
		t.start();
		t.join(TIME_LIMIT_MS);
		if (t.isAlive()) {
			t.interrupt();
			return new AssertionError("did not finish within " + TIME_LIMIT_MS + " ms");
		}
		return err[0];
	}
}
