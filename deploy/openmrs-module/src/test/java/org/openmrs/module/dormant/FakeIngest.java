package org.openmrs.module.dormant;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/**
 * A real HTTP server on 127.0.0.1 standing in for login-ingest: it records each request and
 * answers what the test tells it to (by default 202 with the accepted count, as login-ingest does).
 */
final class FakeIngest implements AutoCloseable {

	static final String PATH = "/v1/events";

	/** One request as received; events is the parsed JSON array (or null if the body was not one). */
	static final class Request {

		final Map<String, String> headers;

		final String body;

		final List<Object> events;

		final long atNanos;

		/** The status this request was answered with. */
		volatile int answered;

		Request(Map<String, String> headers, String body, List<Object> events, long atNanos) {
			this.headers = headers;
			this.body = body;
			this.events = events;
			this.atNanos = atNanos;
		}

		@SuppressWarnings("unchecked")
		Map<String, Object> event(int i) {
			return (Map<String, Object>) events.get(i);
		}
	}

	static final class Reply {

		final int status;

		final String body;

		final Map<String, String> headers = new LinkedHashMap<>();

		Reply(int status, String body) {
			this.status = status;
			this.body = body;
		}

		Reply header(String k, String v) {
			headers.put(k, v);
			return this;
		}
	}

	final List<Request> requests = Collections.synchronizedList(new ArrayList<>());

	volatile Function<Request, Reply> handler = r -> new Reply(202, "{\"accepted\":" + r.events.size() + "}");

	private final HttpServer server;

	final int port;

	private FakeIngest(int port) throws IOException {
		server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 0);
		server.createContext(PATH, this::handle);
		server.start();
		this.port = server.getAddress().getPort();
	}

	static FakeIngest start() throws IOException {
		return new FakeIngest(0);
	}

	static FakeIngest startOn(int port) throws IOException {
		return new FakeIngest(port);
	}

	/** A port with nothing listening on it (yet): "login-ingest is down". */
	static int freePort() throws IOException {
		try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
			return s.getLocalPort();
		}
	}

	static String url(int port) {
		return "http://127.0.0.1:" + port + PATH;
	}

	String url() {
		return url(port);
	}

	private void handle(HttpExchange ex) throws IOException {
		try (InputStream in = ex.getRequestBody()) {
			byte[] raw = in.readAllBytes();
			String body;
			try {
				// Strict: invalid UTF-8 from the hook must fail the test, not turn into U+FFFD.
				body = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
				        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(raw)).toString();
			}
			catch (CharacterCodingException e) {
				body = null;
			}
			Map<String, String> headers = new LinkedHashMap<>();
			ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), String.join(",", v)));
			headers.put(":method", ex.getRequestMethod());
			List<Object> events = null;
			if (body != null) {
				try {
					Object v = MiniJson.parse(body);
					if (v instanceof List) {
						@SuppressWarnings("unchecked")
						List<Object> l = (List<Object>) v;
						events = l;
					}
				}
				catch (RuntimeException e) {
					events = null;
				}
			}
			Request r = new Request(headers, body, events, System.nanoTime());
			requests.add(r);
			Reply reply = events == null ? new Reply(400, "{\"error\":\"not a JSON array of events\"}") : handler.apply(r);
			r.answered = reply.status;
			byte[] out = reply.body.getBytes(StandardCharsets.UTF_8);
			reply.headers.forEach((k, v) -> ex.getResponseHeaders().set(k, v));
			ex.getResponseHeaders().set("Content-Type", "application/json");
			ex.sendResponseHeaders(reply.status, out.length == 0 ? -1 : out.length);
			try (OutputStream os = ex.getResponseBody()) {
				os.write(out);
			}
		}
	}

	/** Every event accepted (answered 2xx), in arrival order. */
	List<Map<String, Object>> delivered() {
		List<Map<String, Object>> out = new ArrayList<>();
		synchronized (requests) {
			for (Request r : requests) {
				if (r.events != null && r.answered >= 200 && r.answered < 300) {
					for (int i = 0; i < r.events.size(); i++) {
						out.add(r.event(i));
					}
				}
			}
		}
		return out;
	}

	@Override
	public void close() {
		server.stop(0);
	}
}
