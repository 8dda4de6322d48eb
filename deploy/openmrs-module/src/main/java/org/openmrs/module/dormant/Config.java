package org.openmrs.module.dormant;

import java.net.InetAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The settings in force, read as a whole from a {@link ConfigSource}. The three that identify
 * where to send (ingest URL, token, site) have no defaults; until they are all set the hook keeps
 * events in the spool instead of sending. The timing knobs exist so tests run in seconds; their
 * defaults suit production.
 */
final class Config {

	static final String INGEST_URL = "dormant.ingestUrl";

	static final String TOKEN = "dormant.token";

	static final String SITE = "dormant.site";

	static final String SOURCE_URL = "dormant.sourceUrl";

	static final String QUEUE_CAPACITY = "dormant.queueCapacity";

	static final String SPOOL_DIR = "dormant.spoolDir";

	static final String SPOOL_MAX_BYTES = "dormant.spoolMaxBytes";

	static final String BATCH_SIZE = "dormant.batchSize";

	static final String BATCH_WAIT_MS = "dormant.batchWaitMs";

	static final String CONNECT_TIMEOUT_MS = "dormant.connectTimeoutMs";

	static final String REQUEST_TIMEOUT_MS = "dormant.requestTimeoutMs";

	static final String MAX_ATTEMPTS = "dormant.maxAttempts";

	static final String RETRY_BASE_MS = "dormant.retryBaseMs";

	static final String RETRY_MAX_MS = "dormant.retryMaxMs";

	static final String AUTH_RETRY_MS = "dormant.authRetryMs";

	static final String CONFIG_REFRESH_MS = "dormant.configRefreshMs";

	static final String STATS_LOG_MS = "dormant.statsLogMs";

	static final List<String> ALL = Collections.unmodifiableList(Arrays.asList(INGEST_URL, TOKEN, SITE, SOURCE_URL,
	    QUEUE_CAPACITY, SPOOL_DIR, SPOOL_MAX_BYTES, BATCH_SIZE, BATCH_WAIT_MS, CONNECT_TIMEOUT_MS, REQUEST_TIMEOUT_MS,
	    MAX_ATTEMPTS, RETRY_BASE_MS, RETRY_MAX_MS, AUTH_RETRY_MS, CONFIG_REFRESH_MS, STATS_LOG_MS));

	/** The site extension's rule in DESIGN.md. */
	private static final Pattern SITE_RE = Pattern.compile("^[a-z0-9-]{1,40}$");

	String ingestUrl;

	String token;

	String site;

	String source;

	int queueCapacity = 10_000;

	String spoolDir;

	long spoolMaxBytes = 64L * 1024 * 1024;

	int batchSize = 100;

	long batchWaitMs = 1_000;

	long connectTimeoutMs = 5_000;

	long requestTimeoutMs = 10_000;

	/** Tries of a batch from memory before it is spooled. */
	int maxAttempts = 4;

	long retryBaseMs = 500;

	long retryMaxMs = 5 * 60_000L;

	/** 401/403: a configuration problem that retrying fast cannot fix. */
	long authRetryMs = 5 * 60_000L;

	long configRefreshMs = 60_000;

	long statsLogMs = 15 * 60_000L;

	/** What is wrong with the settings, empty when events can be sent. */
	final List<String> problems = new ArrayList<>();

	/** Settings with a value that was ignored in favour of the default: logged, not fatal. */
	final List<String> notes = new ArrayList<>();

	boolean complete() {
		return problems.isEmpty();
	}

	/** Reads every setting; a bad value is a problem (reported) or falls back to its default. */
	static Config load(ConfigSource from) throws Exception {
		// One read of every setting, so they are consistent with each other and cost one session.
		Map<String, String> values = from.read(ALL);
		ConfigSource src = values::get;
		Config c = new Config();
		c.ingestUrl = trim(src.get(INGEST_URL));
		c.token = trim(src.get(TOKEN));
		c.site = trim(src.get(SITE));
		if (c.ingestUrl == null) {
			c.problems.add(INGEST_URL + " is not set");
		} else {
			try {
				URI u = URI.create(c.ingestUrl);
				String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
				if (!(scheme.equals("http") || scheme.equals("https")) || u.getHost() == null) {
					c.problems.add(INGEST_URL + " must be an http(s) URL such as https://dormant.example.org/v1/events");
				}
			}
			catch (IllegalArgumentException e) {
				c.problems.add(INGEST_URL + " is not a URL: " + e.getMessage());
			}
		}
		if (c.token == null) {
			c.problems.add(TOKEN + " is not set");
		}
		if (c.site == null) {
			c.problems.add(SITE + " is not set");
		} else if (!SITE_RE.matcher(c.site).matches()) {
			c.problems.add(SITE + " must match [a-z0-9-]{1,40}");
		}
		c.source = trim(src.get(SOURCE_URL));
		if (c.source == null) {
			c.source = "openmrs://" + hostname();
		}
		c.spoolDir = trim(src.get(SPOOL_DIR));
		c.queueCapacity = (int) c.number(src, QUEUE_CAPACITY, c.queueCapacity, 1, 10_000_000);
		c.spoolMaxBytes = c.number(src, SPOOL_MAX_BYTES, c.spoolMaxBytes, 1024, Long.MAX_VALUE);
		c.batchSize = (int) c.number(src, BATCH_SIZE, c.batchSize, 1, 10_000);
		c.batchWaitMs = c.number(src, BATCH_WAIT_MS, c.batchWaitMs, 1, 3_600_000);
		c.connectTimeoutMs = c.number(src, CONNECT_TIMEOUT_MS, c.connectTimeoutMs, 1, 3_600_000);
		c.requestTimeoutMs = c.number(src, REQUEST_TIMEOUT_MS, c.requestTimeoutMs, 1, 3_600_000);
		c.maxAttempts = (int) c.number(src, MAX_ATTEMPTS, c.maxAttempts, 1, 100);
		c.retryBaseMs = c.number(src, RETRY_BASE_MS, c.retryBaseMs, 1, 3_600_000);
		c.retryMaxMs = c.number(src, RETRY_MAX_MS, c.retryMaxMs, 1, 86_400_000);
		c.authRetryMs = c.number(src, AUTH_RETRY_MS, c.authRetryMs, 1, 86_400_000);
		c.configRefreshMs = c.number(src, CONFIG_REFRESH_MS, c.configRefreshMs, 10, 86_400_000);
		c.statsLogMs = c.number(src, STATS_LOG_MS, c.statsLogMs, 10, 86_400_000);
		return c;
	}

	/** Same destination and credentials: the HTTP client and backoff state can be kept. */
	boolean sameTarget(Config o) {
		return o != null && eq(ingestUrl, o.ingestUrl) && eq(token, o.token) && eq(site, o.site)
		        && connectTimeoutMs == o.connectTimeoutMs;
	}

	private static boolean eq(String a, String b) {
		return a == null ? b == null : a.equals(b);
	}

	private static String trim(String s) {
		if (s == null) {
			return null;
		}
		s = s.trim();
		return s.isEmpty() ? null : s;
	}

	private long number(ConfigSource src, String name, long dflt, long min, long max) throws Exception {
		String s = trim(src.get(name));
		if (s == null) {
			return dflt;
		}
		try {
			long v = Long.parseLong(s);
			if (v >= min && v <= max) {
				return v;
			}
		}
		catch (NumberFormatException e) {
			// reported below like an out-of-range value
		}
		notes.add(name + "=" + s + " is not a number from " + min + " to " + max + "; using " + dflt);
		return dflt;
	}

	/** Only characters a URI authority may hold without escaping; "localhost" if none is known. */
	private static String hostname() {
		String h;
		try {
			h = InetAddress.getLocalHost().getHostName();
		}
		catch (Exception e) {
			h = null;
		}
		StringBuilder sb = new StringBuilder();
		if (h != null) {
			for (char ch : h.toLowerCase(Locale.ROOT).toCharArray()) {
				if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-') {
					sb.append(ch);
				}
			}
		}
		return sb.length() == 0 ? "localhost" : sb.toString();
	}
}
