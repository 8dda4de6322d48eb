package org.openmrs.module.dormant;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.function.Function;

import com.sun.net.httpserver.HttpServer;

/**
 * A real HTTP server on 127.0.0.1 standing in for login-ingest: it records every request and
 * answers what the test's responder says. It can be stopped and started again on the same port to
 * play an outage.
 */
final class LoopbackIngest implements AutoCloseable {

	static final String PATH = "/v1/events";

	/** One request as received. */
	static final class Request {

		final String method;

		final String path;

		final String contentType;

		final String authorization;

		final String body;

		final long atNanos = System.nanoTime();

		/** The status answered, set once the responder has decided. */
		volatile int status;

		Request(String method, String path, String contentType, String authorization, String body) {
			this.method = method;
			this.path = path;
			this.contentType = contentType;
			this.authorization = authorization;
			this.body = body;
		}

		List<Object> events() {
			return MiniJson.array(body);
		}
	}

	/** What to answer. */
	static final class Reply {

		final int status;

		final String body;

		final Map<String, String> headers;

		final long delayMs;

		Reply(int status, String body, Map<String, String> headers, long delayMs) {
			this.status = status;
			this.body = body;
			this.headers = headers;
			this.delayMs = delayMs;
		}

		static Reply of(int status, String body) {
			return new Reply(status, body, Map.of(), 0);
		}
	}

	/** Answers like login-ingest when all is well: 202 with the count. */
	static final Function<Request, Reply> ACCEPT_ALL = r -> Reply.of(202,
	    "{\"accepted\":" + MiniJson.array(r.body).size() + "}");

	private final List<Request> requests = new ArrayList<>();

	private volatile Function<Request, Reply> responder = ACCEPT_ALL;

	private HttpServer server;

	private int port;

	LoopbackIngest() throws IOException {
		start(0);
	}

	synchronized void start(int wantPort) throws IOException {
		server = HttpServer.create(new InetSocketAddress("127.0.0.1", wantPort), 0);
		server.createContext("/", ex -> {
			try {
				byte[] in = readAll(ex.getRequestBody());
				Request req = new Request(ex.getRequestMethod(), ex.getRequestURI().getPath(),
				        ex.getRequestHeaders().getFirst("Content-Type"), ex.getRequestHeaders().getFirst("Authorization"),
				        new String(in, StandardCharsets.UTF_8));
				synchronized (this) {
					requests.add(req);
				}
				Reply rep = responder.apply(req);
				req.status = rep.status;
				if (rep.delayMs > 0) {
					Thread.sleep(rep.delayMs);
				}
				byte[] out = rep.body.getBytes(StandardCharsets.UTF_8);
				ex.getResponseHeaders().set("Content-Type", "application/json");
				rep.headers.forEach((k, v) -> ex.getResponseHeaders().set(k, v));
				ex.sendResponseHeaders(rep.status, out.length == 0 ? -1 : out.length);
				if (out.length > 0) {
					try (OutputStream os = ex.getResponseBody()) {
						os.write(out);
					}
				}
			}
			catch (Throwable t) {
				System.err.println("LoopbackIngest handler: " + t);
				ex.sendResponseHeaders(599, -1);
			}
			finally {
				ex.close();
			}
		});
		server.setExecutor(Executors.newCachedThreadPool(r -> {
			Thread t = new Thread(r, "loopback-ingest");
			t.setDaemon(true);
			return t;
		}));
		server.start();
		port = server.getAddress().getPort();
	}

	/** Stops listening: connections are refused until start(port()) is called again. */
	synchronized void stop() {
		if (server != null) {
			server.stop(0);
			server = null;
		}
	}

	int port() {
		return port;
	}

	String url() {
		return "http://127.0.0.1:" + port + PATH;
	}

	void respond(Function<Request, Reply> r) {
		responder = r;
	}

	synchronized List<Request> requests() {
		return new ArrayList<>(requests);
	}

	/** Every event received, in arrival order, as parsed JSON objects. */
	synchronized List<Map<String, Object>> events() {
		List<Map<String, Object>> out = new ArrayList<>();
		for (Request r : requests) {
			for (Object o : r.events()) {
				out.add(MiniJson.obj(o));
			}
		}
		return out;
	}

	private static byte[] readAll(InputStream in) throws IOException {
		ByteArrayOutputStream b = new ByteArrayOutputStream();
		byte[] buf = new byte[8192];
		int n;
		while ((n = in.read(buf)) > 0) {
			b.write(buf, 0, n);
		}
		return b.toByteArray();
	}

	@Override
	public void close() {
		stop();
	}
}
