package org.openmrs.module.dormant;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * One login or logout as the hook keeps it: in the queue, in the spool (one JSON line each) and
 * until it is rendered as a CloudEvent with the settings in force when it is sent (site, source),
 * so events captured before the module was configured can still be delivered once it is.
 */
final class SessionRecord {

	/** users.username and users.system_id are varchar(50); schemas/user-session.json says the same. */
	static final int MAX_NAME = 50;

	static final String TYPE = "org.openmrs.user.session";

	static final String DATASCHEMA = "https://dormant.dev/schemas/v1/user-session.json";

	/**
	 * The listener is not told how the user authenticated, and guessing from the call stack would
	 * cost every login a stack walk; login-ingest accepts "form" for all of them (see README).
	 */
	static final String METHOD = "form";

	private static final Pattern UUID_RE = Pattern
	        .compile("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");

	private static final DateTimeFormatter RFC3339_MILLIS = DateTimeFormatter
	        .ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

	/** Null until the dispatcher assigns it; then fixed, so a resend is deduplicated downstream. */
	final String id;

	final long atMillis;

	final boolean login;

	final boolean success;

	/** Only for successes: on a failure OpenMRS passes an unsaved User whose uuid is random. */
	final String userUuid;

	final String username;

	final String systemId;

	SessionRecord(String id, long atMillis, boolean login, boolean success, String userUuid, String username,
	    String systemId) {
		this.id = id;
		this.atMillis = atMillis;
		this.login = login;
		this.success = success;
		this.userUuid = userUuid;
		this.username = username;
		this.systemId = systemId;
	}

	/**
	 * Applies the schema's rules once, before the record is spooled or sent: an id; the user uuid
	 * only on a success and only if it is a UUID; a username of 1 to 50 characters, falling back
	 * to the system id (OpenMRS users may have only a system id and log in with it); a typed
	 * username longer than any real one cut to 50 characters, so a failed attempt is still
	 * reported. Returns null when there is no name at all to report.
	 */
	SessionRecord normalized() {
		String name = blankToNull(username);
		String sys = blankToNull(systemId);
		if (name == null) {
			name = sys;
		}
		if (name == null) {
			return null;
		}
		String uuid = success && userUuid != null && UUID_RE.matcher(userUuid).matches() ? userUuid : null;
		return new SessionRecord(id != null ? id : UUID.randomUUID().toString(), atMillis, login, success, uuid,
		        truncate(name), sys == null ? null : truncate(sys));
	}

	static String truncate(String s) {
		if (s.codePointCount(0, s.length()) <= MAX_NAME) {
			return s;
		}
		return s.substring(0, s.offsetByCodePoints(0, MAX_NAME));
	}

	private static String blankToNull(String s) {
		return s == null || s.trim().isEmpty() ? null : s;
	}

	static String rfc3339(long millis) {
		return RFC3339_MILLIS.format(Instant.ofEpochMilli(millis));
	}

	/** Appends the structured-mode CloudEvent; null fields are left out. */
	void appendCloudEvent(StringBuilder sb, String source, String site) {
		String at = rfc3339(atMillis);
		sb.append('{');
		Json.field(sb, true, "specversion", "1.0");
		Json.field(sb, false, "id", id);
		Json.field(sb, false, "source", source);
		Json.field(sb, false, "type", TYPE);
		Json.field(sb, false, "subject", userUuid);
		Json.field(sb, false, "time", at);
		Json.field(sb, false, "datacontenttype", "application/json");
		Json.field(sb, false, "dataschema", DATASCHEMA);
		Json.field(sb, false, "site", site);
		sb.append(",\"data\":{");
		Json.field(sb, true, "event", login ? "login" : "logout");
		Json.field(sb, false, "status", success ? "success" : "failure");
		Json.field(sb, false, "user_uuid", userUuid);
		Json.field(sb, false, "username", username);
		Json.field(sb, false, "system_id", systemId);
		Json.field(sb, false, "occurred_at", at);
		Json.field(sb, false, "method", METHOD);
		sb.append("}}");
	}

	/** One spool line (without the newline). "v" lets a later version read older spools. */
	String toSpoolLine() {
		StringBuilder sb = new StringBuilder(256);
		sb.append('{');
		Json.field(sb, true, "v", "1");
		Json.field(sb, false, "id", id);
		Json.field(sb, false, "at", Long.toString(atMillis));
		Json.field(sb, false, "event", login ? "login" : "logout");
		Json.field(sb, false, "status", success ? "success" : "failure");
		Json.field(sb, false, "user_uuid", userUuid);
		Json.field(sb, false, "username", username);
		Json.field(sb, false, "system_id", systemId);
		sb.append('}');
		return sb.toString();
	}

	/** Reads a spool line; IllegalArgumentException if it is damaged. */
	static SessionRecord fromSpoolLine(String line) {
		Map<String, String> m = Json.parseFlatObject(line);
		if (!"1".equals(m.get("v"))) {
			throw new IllegalArgumentException("unknown spool record version " + m.get("v"));
		}
		String id = m.get("id");
		String at = m.get("at");
		String event = m.get("event");
		String status = m.get("status");
		String username = m.get("username");
		if (id == null || at == null || username == null || !("login".equals(event) || "logout".equals(event))
		        || !("success".equals(status) || "failure".equals(status))) {
			throw new IllegalArgumentException("spool record misses a field");
		}
		long millis;
		try {
			millis = Long.parseLong(at);
		}
		catch (NumberFormatException e) {
			throw new IllegalArgumentException("bad time in spool record");
		}
		return new SessionRecord(id, millis, "login".equals(event), "success".equals(status), m.get("user_uuid"),
		        username, m.get("system_id"));
	}
}
