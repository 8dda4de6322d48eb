package org.openmrs.module.dormant;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.regex.Pattern;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/**
 * login-ingest's HTTP intake ({@code POST /v1/events}, services/login-ingest/service/http.go) on a
 * real HTTP server on 127.0.0.1, answering what the real one answers, in the same order of checks:
 * <ol>
 * <li>404 / 405 for another path or method (Go's mux);</li>
 * <li>401 with {@code WWW-Authenticate} when the bearer token is missing or unknown;</li>
 * <li>413 when the body is over {@link #maxBodyBytes} (the real default: 1 MiB);</li>
 * <li>400 with {@code accepted:0} when the body is not a batch of CloudEvents (content type,
 * JSON, a missing attribute), naming the bad event's index and reason;</li>
 * <li>403 when an event claims a site other than the token's;</li>
 * <li>429 or 503 with {@code Retry-After: 2} when the event stream cannot take the batch (a test
 * says so with {@link #streamFails}); nothing of the batch is accepted;</li>
 * <li>400 naming each invalid event (index, id, reason, field, problem) by the rules of
 * events/validate.go, the others accepted (and kept), or 202 {@code {"accepted":n}}.</li>
 * </ol>
 * Every event the hook sends therefore passes the real schema rules or shows up as refused: a hook
 * that builds a bad event fails the test that sent it. Stopping and starting it on the same port
 * plays an outage.
 */
final class FakeIngest implements AutoCloseable {

	static final String PATH = "/v1/events";

	static final String TOKEN = "tok-123";

	static final String SITE = "site-a";

	/** login-ingest's DORMANT_INGEST_MAX_BODY_BYTES default. */
	static final long DEFAULT_MAX_BODY_BYTES = 1_048_576;

	/** What the real intake puts in Retry-After when JetStream does not acknowledge. */
	static final String RETRY_AFTER = "2";

	static final String BATCH = "application/cloudevents-batch+json";

	static final String STRUCTURED = "application/cloudevents+json";

	static final String USER_SESSION = "org.openmrs.user.session";

	private static final Pattern UUID_RE = Pattern
	        .compile("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");

	private static final Pattern SITE_RE = Pattern.compile("^[a-z0-9-]{1,40}$");

	private static final List<String> METHODS = List.of("form", "basic", "oauth2", "api", "other");

	/** One request as received, and how it was answered. */
	static final class Request {

		final String method;

		final String path;

		/** Lower-case names. */
		final Map<String, String> headers;

		/** Null when the body was not UTF-8. */
		final String body;

		final long atNanos = System.nanoTime();

		/** The batch as parsed, null when it was not a JSON array of objects. */
		volatile List<Map<String, Object>> events;

		volatile int status;

		volatile String answer;

		Request(String method, String path, Map<String, String> headers, String body) {
			this.method = method;
			this.path = path;
			this.headers = headers;
			this.body = body;
		}

		/** Events in the body, also when it was refused before being read (401, 413); -1 if not an array. */
		int size() {
			List<Map<String, Object>> e = events;
			if (e != null) {
				return e.size();
			}
			try {
				Object v = body == null ? null : MiniJson.parse(body);
				return v instanceof List ? ((List<?>) v).size() : -1;
			}
			catch (RuntimeException ex) {
				return -1;
			}
		}
	}

	/** Bearer token to the site it belongs to, as in dormant's sites file. */
	final Map<String, String> tokens = new ConcurrentHashMap<>(Map.of(TOKEN, SITE));

	volatile long maxBodyBytes = DEFAULT_MAX_BODY_BYTES;

	/** How long each answer takes: a slow or hanging login-ingest. */
	volatile long delayMs;

	private final List<Request> requests = new ArrayList<>();

	/** Events accepted, in the order they were. */
	private final List<Map<String, Object>> accepted = new ArrayList<>();

	private int streamStatus;

	private int streamFailuresLeft;

	private String streamRetryAfter;

	private HttpServer server;

	private int port;

	FakeIngest() throws IOException {
		start(0);
	}

	/** Listens on port (0: any); after {@link #stop()}, start(port()) ends the outage. */
	synchronized void start(int wantPort) throws IOException {
		server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), wantPort), 0);
		server.createContext("/", this::handle);
		server.setExecutor(Executors.newCachedThreadPool(r -> {
			Thread t = new Thread(r, "fake-ingest");
			t.setDaemon(true);
			return t;
		}));
		server.start();
		port = server.getAddress().getPort();
	}

	/** Stops listening: connections are refused, as when login-ingest is down. */
	synchronized void stop() {
		if (server != null) {
			server.stop(0);
			server = null;
		}
	}

	synchronized int port() {
		return port;
	}

	String url() {
		return "http://127.0.0.1:" + port() + PATH;
	}

	/**
	 * The next times batches that pass the door are answered status (429 or 503: JetStream slow
	 * or gone, with Retry-After; 500: the intake's own failure, without), times &lt; 0 until
	 * {@link #streamUp()}. retryAfter null leaves the header out.
	 */
	synchronized void streamFails(int status, int times, String retryAfter) {
		streamStatus = status;
		streamFailuresLeft = times;
		streamRetryAfter = retryAfter;
	}

	synchronized void streamUp() {
		streamStatus = 0;
	}

	synchronized List<Request> requests() {
		return new ArrayList<>(requests);
	}

	/** Every event login-ingest accepted, in order (a resent one twice, as the HTTP answers said). */
	synchronized List<Map<String, Object>> accepted() {
		return new ArrayList<>(accepted);
	}

	@Override
	public void close() {
		stop();
	}

	// ---------------------------------------------------------------- the intake

	private void handle(HttpExchange ex) throws IOException {
		try {
			byte[] raw = ex.getRequestBody().readAllBytes();
			String body;
			try {
				body = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
				        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(raw)).toString();
			}
			catch (CharacterCodingException e) {
				body = null;
			}
			Map<String, String> headers = new LinkedHashMap<>();
			ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), String.join(",", v)));
			Request r = new Request(ex.getRequestMethod(), ex.getRequestURI().getPath(), headers, body);
			synchronized (this) {
				requests.add(r);
			}
			long d = delayMs;
			if (d > 0) {
				Thread.sleep(d);
			}
			Map<String, String> out = new LinkedHashMap<>();
			String answer = answer(r, raw.length, out);
			byte[] bytes = answer.getBytes(StandardCharsets.UTF_8);
			out.forEach((k, v) -> ex.getResponseHeaders().set(k, v));
			ex.sendResponseHeaders(r.status, bytes.length == 0 ? -1 : bytes.length);
			if (bytes.length > 0) {
				try (OutputStream os = ex.getResponseBody()) {
					os.write(bytes);
				}
			}
		}
		catch (IOException e) {
			// The hook hung up (its timeout, or stop()) or the test stopped the server: nobody to answer.
		}
		catch (Throwable t) {
			// A fault in the fake must not pass for an answer of login-ingest's.
			System.err.println("FakeIngest: " + t);
			ex.sendResponseHeaders(599, -1);
		}
		finally {
			ex.close();
		}
	}

	/** Sets r.status and the response headers; returns the body. */
	private String answer(Request r, int bodyBytes, Map<String, String> headers) {
		if (!PATH.equals(r.path)) {
			headers.put("Content-Type", "text/plain; charset=utf-8");
			return done(r, 404, "404 page not found\n");
		}
		if (!"POST".equals(r.method)) {
			headers.put("Content-Type", "text/plain; charset=utf-8");
			headers.put("Allow", "POST");
			return done(r, 405, "Method Not Allowed\n");
		}
		headers.put("Content-Type", "application/json");
		String auth = r.headers.getOrDefault("authorization", "");
		String tok = auth.startsWith("Bearer ") ? auth.substring(7) : "";
		if (tok.isEmpty()) {
			headers.put("WWW-Authenticate", "Bearer realm=\"dormant\"");
			return done(r, 401, reply(0, null, "a bearer token is required"));
		}
		String site = tokens.get(tok);
		if (site == null) {
			headers.put("WWW-Authenticate", "Bearer realm=\"dormant\", error=\"invalid_token\"");
			return done(r, 401, reply(0, null, "the bearer token is not valid for any site"));
		}
		if (bodyBytes > maxBodyBytes) {
			return done(r, 413,
			    reply(0, null, "request body larger than " + maxBodyBytes + " bytes: send smaller batches"));
		}
		List<Map<String, Object>> evs = new ArrayList<>();
		Rejection bad = parse(r, evs);
		if (bad != null) {
			return done(r, 400, reply(0, Collections.singletonList(bad), bad.problem));
		}
		r.events = evs;
		for (int i = 0; i < evs.size(); i++) {
			Object s = evs.get(i).get("site");
			String evSite = s instanceof String ? (String) s : "";
			if (!evSite.equals(site)) {
				return done(r, 403, reply(0, null,
				    "event " + i + " is for site \"" + evSite + "\" but the token belongs to site \"" + site + "\""));
			}
		}
		List<Rejection> rejected = new ArrayList<>();
		List<Map<String, Object>> good = new ArrayList<>();
		for (int i = 0; i < evs.size(); i++) {
			Rejection rj = check(evs.get(i));
			if (rj == null) {
				good.add(evs.get(i));
			} else {
				rj.index = i;
				Object id = evs.get(i).get("id");
				rj.id = id instanceof String ? (String) id : null;
				rejected.add(rj);
			}
		}
		synchronized (this) {
			if (streamStatus != 0 && streamFailuresLeft != 0) {
				int status = streamStatus;
				if (streamFailuresLeft > 0 && --streamFailuresLeft == 0) {
					streamStatus = 0;
				}
				if (streamRetryAfter != null) {
					headers.put("Retry-After", streamRetryAfter);
				}
				String msg = status == 503 ? "the event stream is unavailable; retry later"
				        : status == 429 ? "the event stream is not keeping up; retry later" : "encode event: boom";
				return done(r, status, reply(0, null, msg));
			}
			accepted.addAll(good);
		}
		if (!rejected.isEmpty()) {
			return done(r, 400, reply(good.size(), rejected,
			    rejected.size() + " of " + evs.size() + " events refused; the others were accepted"));
		}
		return done(r, 202, reply(good.size(), null, null));
	}

	private static String done(Request r, int status, String body) {
		r.answer = body;
		r.status = status;
		return body;
	}

	/** events.FromHTTP: batch or structured mode, each event with its required attributes. */
	private static Rejection parse(Request r, List<Map<String, Object>> out) {
		String ct = r.headers.getOrDefault("content-type", "");
		String mt = ct.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
		boolean batch = mt.equals(BATCH);
		if (!batch && !mt.equals(STRUCTURED)) {
			return whole(0, "unsupported_mode", "no Ce- headers and content type \"" + ct + "\"");
		}
		if (r.body == null) {
			return whole(0, "malformed", "body is not valid UTF-8");
		}
		Object v;
		try {
			v = MiniJson.parse(r.body);
		}
		catch (RuntimeException e) {
			return whole(0, "malformed", (batch ? "batch must be a JSON array of events: " : "structured event: ")
			        + e.getMessage());
		}
		List<Object> items;
		if (batch) {
			if (!(v instanceof List)) {
				return whole(0, "malformed", "batch must be a JSON array of events");
			}
			@SuppressWarnings("unchecked")
			List<Object> l = (List<Object>) v;
			items = l;
		} else {
			items = Collections.singletonList(v);
		}
		for (int i = 0; i < items.size(); i++) {
			Rejection rj = item(items.get(i), out);
			if (rj != null) {
				rj.index = i;
				if (batch) {
					// events.BatchError: the index is named in the problem too.
					rj.problem = "batch event " + i + ": " + rj.problem;
				}
				return rj;
			}
		}
		return null;
	}

	/** parseStructured: one event of the body, added to out when it has its attributes. */
	private static Rejection item(Object v, List<Map<String, Object>> out) {
		if (!(v instanceof Map)) {
			return whole(0, "malformed", "structured event: not a JSON object");
		}
		Map<String, Object> e = MiniJson.obj(v);
		Object sv = e.get("specversion");
		if (sv == null || "".equals(sv)) {
			return whole(0, "missing_attribute", "specversion is required");
		}
		if (!"1.0".equals(sv)) {
			return whole(0, "unsupported_mode", "specversion \"" + sv + "\": only 1.0 is supported");
		}
		for (String a : new String[] { "id", "source", "type" }) {
			if (!(e.get(a) instanceof String) || ((String) e.get(a)).isEmpty()) {
				return whole(0, "missing_attribute", a + " is required");
			}
		}
		Object t = e.get("time");
		if (t != null && !isTime(t)) {
			return whole(0, "malformed", "time " + t + " is not RFC 3339");
		}
		out.add(e);
		return null;
	}

	private static Rejection whole(int index, String reason, String problem) {
		Rejection rj = new Rejection();
		rj.index = index;
		rj.reason = reason;
		rj.problem = "decode event: " + reason + ": " + problem;
		return rj;
	}

	/** checkIntake and events.Decode for org.openmrs.user.session (UserSession.Validate). */
	private static Rejection check(Map<String, Object> e) {
		Object type = e.get("type");
		if (!USER_SESSION.equals(type)) {
			return invalid("unexpected_type", null, "type " + type + " is not accepted here; send " + USER_SESSION);
		}
		Object dct = e.get("datacontenttype");
		if (dct != null && !isJSONType(String.valueOf(dct))) {
			return invalid("unsupported_mode", null, "data content type \"" + dct + "\" is not JSON");
		}
		if (!(e.get("data") instanceof Map)) {
			return invalid("invalid_data", "data", e.get("data") == null ? "is required" : "must be a JSON object");
		}
		Map<String, Object> d = MiniJson.obj(e.get("data"));
		for (Map.Entry<String, Object> f : d.entrySet()) {
			if (f.getValue() != null && !(f.getValue() instanceof String)) {
				return invalid("invalid_data", f.getKey(), "must be a string");
			}
		}
		String event = str(d, "event");
		String status = str(d, "status");
		String uuid = str(d, "user_uuid");
		List<String[]> errs = new ArrayList<>();
		oneOf(errs, "event", event, List.of("login", "logout"));
		oneOf(errs, "status", status, List.of("success", "failure"));
		if ("failure".equals(status)) {
			if (!uuid.isEmpty()) {
				errs.add(new String[] { "user_uuid",
				        "must be absent on failures (OpenMRS gives an unsaved user a random uuid)" });
			}
		} else if ("login".equals(event) && "success".equals(status)) {
			uuid(errs, "user_uuid", uuid, true);
		} else {
			uuid(errs, "user_uuid", uuid, false);
		}
		text(errs, "username", str(d, "username"), 50, true);
		text(errs, "system_id", str(d, "system_id"), 50, false);
		String at = str(d, "occurred_at");
		if (at.isEmpty()) {
			errs.add(new String[] { "occurred_at", "is required" });
		} else if (!isTime(at)) {
			errs.add(new String[] { "occurred_at", "must be an RFC 3339 time" });
		}
		oneOf(errs, "method", str(d, "method"), METHODS);
		uuid(errs, "location_uuid", str(d, "location_uuid"), false);
		if (!errs.isEmpty()) {
			// errors.As finds the first of the joined field errors: that is the one named.
			return invalid("invalid_data", errs.get(0)[0], errs.get(0)[1]);
		}
		Object site = e.get("site");
		if (!(site instanceof String) || !SITE_RE.matcher((String) site).matches()) {
			return invalid("invalid_site", null, "site \"" + site + "\": must match ^[a-z0-9-]{1,40}$");
		}
		return null;
	}

	private static Rejection invalid(String reason, String field, String problem) {
		Rejection rj = new Rejection();
		rj.reason = reason;
		rj.field = field;
		rj.problem = field != null ? problem : "decode event: " + reason + ": " + problem;
		return rj;
	}

	private static String str(Map<String, Object> d, String k) {
		Object v = d.get(k);
		return v == null ? "" : (String) v;
	}

	private static void oneOf(List<String[]> errs, String field, String v, List<String> allowed) {
		if (v.isEmpty()) {
			errs.add(new String[] { field, "is required" });
		} else if (!allowed.contains(v)) {
			errs.add(new String[] { field, "must be one of " + allowed });
		}
	}

	private static void uuid(List<String[]> errs, String field, String v, boolean required) {
		if (v.isEmpty()) {
			if (required) {
				errs.add(new String[] { field, "is required" });
			}
		} else if (!UUID_RE.matcher(v).matches()) {
			errs.add(new String[] { field, "must be a UUID" });
		}
	}

	private static void text(List<String[]> errs, String field, String v, int max, boolean required) {
		if (v.isEmpty()) {
			if (required) {
				errs.add(new String[] { field, "is required" });
			}
		} else if (v.indexOf('\0') >= 0) {
			// PostgreSQL text cannot hold NUL, so login-ingest refuses it at the door.
			errs.add(new String[] { field, "must not contain NUL characters" });
		} else if (v.codePointCount(0, v.length()) > max) {
			errs.add(new String[] { field, "must be at most " + max + " characters" });
		}
	}

	private static boolean isTime(Object v) {
		if (!(v instanceof String)) {
			return false;
		}
		try {
			OffsetDateTime.parse((String) v);
			return true;
		}
		catch (DateTimeParseException e) {
			return false;
		}
	}

	private static boolean isJSONType(String ct) {
		String mt = ct.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
		return mt.isEmpty() || mt.equals("application/json") || mt.equals("text/json") || mt.endsWith("+json");
	}

	/** One refused event, as the intake's rejection JSON names it. */
	static final class Rejection {

		int index;

		String id;

		String reason;

		String field;

		String problem;
	}

	/** intakeResponse as encoding/json writes it: accepted always, the rest when set, then a newline. */
	private static String reply(int accepted, List<Rejection> rejected, String error) {
		StringBuilder sb = new StringBuilder("{\"accepted\":").append(accepted);
		if (rejected != null && !rejected.isEmpty()) {
			sb.append(",\"rejected\":[");
			for (int i = 0; i < rejected.size(); i++) {
				Rejection rj = rejected.get(i);
				sb.append(i == 0 ? "" : ",").append("{\"index\":").append(rj.index);
				if (rj.id != null && !rj.id.isEmpty()) {
					sb.append(",\"id\":").append(quote(rj.id));
				}
				sb.append(",\"reason\":").append(quote(rj.reason));
				if (rj.field != null) {
					sb.append(",\"field\":").append(quote(rj.field));
				}
				sb.append(",\"problem\":").append(quote(rj.problem)).append('}');
			}
			sb.append(']');
		}
		if (error != null) {
			sb.append(",\"error\":").append(quote(error));
		}
		return sb.append("}\n").toString();
	}

	/** Independent of the module's Json, so a bug there cannot hide in the fake's answers. */
	private static String quote(String s) {
		StringBuilder sb = new StringBuilder("\"");
		for (char c : s.toCharArray()) {
			if (c == '"' || c == '\\') {
				sb.append('\\').append(c);
			} else if (c < 0x20) {
				sb.append(String.format("\\u%04x", (int) c));
			} else {
				sb.append(c);
			}
		}
		return sb.append('"').toString();
	}
}
