package org.openmrs.module.dormant;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The fake intake answers as services/login-ingest/service/http.go does (status, headers, body),
 * so the hook's tests exercise it against what production says. Requests are written by hand
 * here, not by the module, so a bug in the module cannot make the fake look right.
 */
public class FakeIngestTest implements AutoCloseable {

	private static final String UUID1 = "0f7e3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6";

	private final FakeIngest ingest;

	private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

	public FakeIngestTest() throws IOException {
		ingest = new FakeIngest();
	}

	/** A valid org.openmrs.user.session event with data fields replaced (null value: left out). */
	private static String event(String id, String site, Map<String, String> data) {
		Map<String, String> d = new LinkedHashMap<>();
		d.put("event", "login");
		d.put("status", "success");
		d.put("user_uuid", UUID1);
		d.put("username", "jane");
		d.put("occurred_at", "2026-01-02T03:04:05.678Z");
		d.put("method", "form");
		d.putAll(data);
		StringBuilder sb = new StringBuilder("{\"specversion\":\"1.0\",\"id\":\"" + id
		        + "\",\"source\":\"https://emr.example.org\",\"type\":\"org.openmrs.user.session\","
		        + "\"time\":\"2026-01-02T03:04:05.678Z\",\"datacontenttype\":\"application/json\",\"site\":\"" + site
		        + "\",\"data\":{");
		boolean first = true;
		for (Map.Entry<String, String> e : d.entrySet()) {
			if (e.getValue() == null) {
				continue;
			}
			sb.append(first ? "" : ",").append('"').append(e.getKey()).append("\":\"").append(e.getValue()).append('"');
			first = false;
		}
		return sb.append("}}").toString();
	}

	private HttpResponse<String> post(String path, String method, String contentType, String auth, String body)
	        throws Exception {
		HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ingest.port() + path))
		        .method(method, HttpRequest.BodyPublishers.ofString(body));
		if (contentType != null) {
			b.header("Content-Type", contentType);
		}
		if (auth != null) {
			b.header("Authorization", auth);
		}
		return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
	}

	private HttpResponse<String> batch(String... events) throws Exception {
		return post(FakeIngest.PATH, "POST", FakeIngest.BATCH, "Bearer " + FakeIngest.TOKEN,
		    "[" + String.join(",", events) + "]");
	}

	public void testAnswersLikeTheRealIntake() throws Exception {
		String ok = event("e1", FakeIngest.SITE, Map.of());
		String bearer = "Bearer " + FakeIngest.TOKEN;
		Object[][] cases = { // name, path, method, content type, authorization, body, status, body part, header
		        { "accepted", FakeIngest.PATH, "POST", FakeIngest.BATCH, bearer, "[" + ok + "]", 202, "{\"accepted\":1}\n",
		                null },
		        { "structured mode", FakeIngest.PATH, "POST", FakeIngest.STRUCTURED, bearer, ok, 202, "{\"accepted\":1}",
		                null },
		        { "no token", FakeIngest.PATH, "POST", FakeIngest.BATCH, null, "[" + ok + "]", 401,
		                "a bearer token is required", "www-authenticate=Bearer realm=\"dormant\"" },
		        { "not bearer", FakeIngest.PATH, "POST", FakeIngest.BATCH, "Basic eDp5", "[" + ok + "]", 401,
		                "a bearer token is required", null },
		        { "unknown token", FakeIngest.PATH, "POST", FakeIngest.BATCH, "Bearer nope", "[" + ok + "]", 401,
		                "not valid for any site", "www-authenticate=Bearer realm=\"dormant\", error=\"invalid_token\"" },
		        { "not CloudEvents", FakeIngest.PATH, "POST", "application/json", bearer, "[" + ok + "]", 400,
		                "\"reason\":\"unsupported_mode\"", null },
		        { "not JSON", FakeIngest.PATH, "POST", FakeIngest.BATCH, bearer, "[{", 400,
		                "{\"accepted\":0,\"rejected\":[{\"index\":0,\"reason\":\"malformed\"", null },
		        { "no id", FakeIngest.PATH, "POST", FakeIngest.BATCH, bearer,
		                "[" + ok + "," + ok.replace("\"id\":\"e1\",", "") + "]", 400,
		                "{\"index\":1,\"reason\":\"missing_attribute\","
		                        + "\"problem\":\"batch event 1: decode event: missing_attribute: id is required\"}",
		                null },
		        { "another site", FakeIngest.PATH, "POST", FakeIngest.BATCH, bearer,
		                "[" + event("e2", "site-b", Map.of()) + "]", 403,
		                "event 0 is for site \\\"site-b\\\" but the token belongs to site \\\"site-a\\\"", null },
		        { "GET", FakeIngest.PATH, "GET", null, bearer, "", 405, "Method Not Allowed", "allow=POST" },
		        { "other path", "/v1/event", "POST", FakeIngest.BATCH, bearer, "[" + ok + "]", 404, "404 page not found",
		                null }, };
		for (Object[] c : cases) {
			HttpResponse<String> r = post((String) c[1], (String) c[2], (String) c[3], (String) c[4], (String) c[5]);
			Check.equal(c[6], r.statusCode(), c[0] + ": status (" + r.body() + ")");
			Check.isTrue(r.body().contains((String) c[7]), c[0] + ": body " + r.body());
			if (c[8] != null) {
				String[] kv = ((String) c[8]).split("=", 2);
				Check.equal(kv[1], r.headers().firstValue(kv[0]).orElse(null), c[0] + ": header " + kv[0]);
			}
			if (r.statusCode() != 404 && r.statusCode() != 405) {
				Check.equal("application/json", r.headers().firstValue("content-type").orElse(null), c[0] + ": JSON");
			}
		}
		Check.equal(2, ingest.accepted().size(), "only the two good requests were kept");
	}

	public void testRefusesInvalidEventsAndAcceptsTheOthers() throws Exception {
		HttpResponse<String> r = batch(event("a", FakeIngest.SITE, Map.of()),
		    event("b", FakeIngest.SITE, Map.of("username", "x\\u0000y")),
		    event("c", FakeIngest.SITE, Map.of("status", "failure")),
		    event("d", FakeIngest.SITE, Map.of("username", "\u00e9".repeat(51))),
		    event("e", FakeIngest.SITE, Map.of("status", "failure", "user_uuid", "null-uuid", "event", "logout")));
		Check.equal(400, r.statusCode(), "status");
		Map<String, Object> body = MiniJson.obj(MiniJson.parse(r.body()));
		Check.equal(1L, body.get("accepted"), "the valid event is accepted: " + r.body());
		Check.equal("4 of 5 events refused; the others were accepted", body.get("error"), "error");
		List<Object> rejected = list(body.get("rejected"));
		String[][] want = { { "1", "b", "username", "must not contain NUL characters" },
		        { "2", "c", "user_uuid", "must be absent on failures (OpenMRS gives an unsaved user a random uuid)" },
		        { "3", "d", "username", "must be at most 50 characters" },
		        { "4", "e", "user_uuid", "must be absent on failures (OpenMRS gives an unsaved user a random uuid)" } };
		Check.equal(want.length, rejected.size(), "rejections: " + r.body());
		for (int i = 0; i < want.length; i++) {
			Map<String, Object> rj = MiniJson.obj(rejected.get(i));
			Check.equal(Long.parseLong(want[i][0]), rj.get("index"), "index");
			Check.equal(want[i][1], rj.get("id"), "id");
			Check.equal("invalid_data", rj.get("reason"), "reason");
			Check.equal(want[i][2], rj.get("field"), "field");
			Check.equal(want[i][3], rj.get("problem"), "problem");
		}
		Check.equal(List.of("a"), HookFixture.ids(ingest.accepted()), "kept");

		// A successful login must name its user.
		r = batch(event("f", FakeIngest.SITE, Map.of("user_uuid", "")));
		Check.isTrue(r.statusCode() == 400 && r.body().contains("\"field\":\"user_uuid\",\"problem\":\"is required\""),
		    "success without a uuid: " + r.body());
		r = batch(event("g", FakeIngest.SITE, Map.of("method", "magic")));
		Check.isTrue(r.statusCode() == 400 && r.body().contains("\"field\":\"method\""), "unknown method: " + r.body());
		r = batch(event("h", FakeIngest.SITE, Map.of("occurred_at", "yesterday")));
		Check.isTrue(r.statusCode() == 400 && r.body().contains("\"field\":\"occurred_at\""), "bad time: " + r.body());
		r = batch(event("i", FakeIngest.SITE, Map.of()).replace("org.openmrs.user.session", "org.openmrs.user.synced"));
		Check.isTrue(r.statusCode() == 400 && r.body().contains("\"reason\":\"unexpected_type\""), "type: " + r.body());
	}

	public void testTooLargeAndUnavailable() throws Exception {
		ingest.maxBodyBytes = 100;
		HttpResponse<String> r = batch(event("a", FakeIngest.SITE, Map.of()));
		Check.equal(413, r.statusCode(), "over the limit");
		Check.isTrue(r.body().contains("request body larger than 100 bytes: send smaller batches"), r.body());
		ingest.maxBodyBytes = FakeIngest.DEFAULT_MAX_BODY_BYTES;

		int[][] cases = { { 503 }, { 429 } };
		for (int[] c : cases) {
			ingest.streamFails(c[0], 1, FakeIngest.RETRY_AFTER);
			r = batch(event("b", FakeIngest.SITE, Map.of()));
			Check.equal(c[0], r.statusCode(), "stream failure");
			Check.equal("2", r.headers().firstValue("retry-after").orElse(null), "Retry-After as the real intake says");
			Check.isTrue(r.body().contains("retry later"), r.body());
			r = batch(event("c", FakeIngest.SITE, Map.of()));
			Check.equal(202, r.statusCode(), "one failure only");
		}
		// A refused token is answered before the stream is tried, as in the real handler.
		ingest.streamFails(503, -1, FakeIngest.RETRY_AFTER);
		r = post(FakeIngest.PATH, "POST", FakeIngest.BATCH, "Bearer nope", "[]");
		Check.equal(401, r.statusCode(), "401 first");
		ingest.streamUp();
		Check.equal(List.of("c", "c"), HookFixture.ids(ingest.accepted()), "nothing of a failed batch is kept");
	}

	@SuppressWarnings("unchecked")
	private static List<Object> list(Object v) {
		Check.isTrue(v instanceof List, "a JSON array: " + v);
		return (List<Object>) v;
	}

	@Override
	public void close() {
		ingest.close();
	}
}
