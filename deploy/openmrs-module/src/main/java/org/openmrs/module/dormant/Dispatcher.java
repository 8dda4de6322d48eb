package org.openmrs.module.dormant;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The background thread that takes events from the queue and delivers them to login-ingest as
 * CloudEvents batches, and that keeps them in the spool whenever login-ingest cannot take them.
 * <p>
 * Order: once anything is in the spool, new events go behind it and the spool is replayed from its
 * oldest event, so login-ingest receives events in the order they happened even across an outage.
 * (Last-login records do not depend on order, but operators reading the stream do.)
 * <p>
 * Everything runs on this one thread, including reading the settings, so no login thread ever
 * touches the network, the disk or the OpenMRS database on the hook's behalf.
 */
final class Dispatcher implements Runnable {

	static final String CONTENT_TYPE = "application/cloudevents-batch+json";

	private static final Pattern ACCEPTED = Pattern.compile("\"accepted\"\\s*:\\s*(\\d+)");

	/**
	 * Longest wait before retrying a batch held in memory; a longer Retry-After sends the batch to
	 * the spool, where a restart cannot lose it.
	 */
	private static final long MAX_INLINE_WAIT_MS = 30_000;

	/** Longest response body quoted in the log. */
	private static final int MAX_LOGGED_BODY = 2000;

	enum Kind {
		OK, BAD, TOO_LARGE, CONFIG, RETRY
	}

	/** The outcome of one POST. */
	static final class Response {

		final Kind kind;

		final int status;

		final String body;

		final long retryAfterMs;

		Response(Kind kind, int status, String body, long retryAfterMs) {
			this.kind = kind;
			this.status = status;
			this.body = body;
			this.retryAfterMs = retryAfterMs;
		}
	}

	private final EventQueue queue;

	private final Counters counters;

	private final ConfigSource source;

	private final Log log;

	private volatile boolean stopping;

	private volatile long stopDeadline;

	private Thread thread;

	private Config cfg;

	private HttpClient http;

	private Spool spool;

	private String spoolDir;

	private long nextConfigAt;

	private long nextStatsAt;

	private long nextReplayAt;

	private long nextIncompleteWarnAt;

	private long firstWaitingAt;

	private int replayFailures;

	private int replayLimit;

	private String lastProblems = "";

	private Counters.Snapshot lastLogged;

	Dispatcher(EventQueue queue, Counters counters, ConfigSource source, Log log) {
		this.queue = queue;
		this.counters = counters;
		this.source = source;
		this.log = log;
	}

	synchronized void start() {
		thread = new Thread(this, "dormant-dispatcher");
		// A daemon, so a hook that is somehow still running never keeps OpenMRS from shutting down.
		thread.setDaemon(true);
		queue.setConsumer(thread, 1);
		thread.start();
	}

	/**
	 * Sends what it can until the deadline, spools the rest and ends the thread. Returns false if
	 * the thread did not end in time (it is then interrupted, which makes it spool and exit).
	 */
	boolean stop(long timeoutMs) throws InterruptedException {
		Thread t;
		synchronized (this) {
			t = thread;
		}
		if (t == null) {
			return true;
		}
		stopDeadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
		stopping = true;
		LockSupport.unpark(t);
		t.join(Math.max(1, timeoutMs));
		if (t.isAlive()) {
			t.interrupt();
			t.join(2000);
		}
		return !t.isAlive();
	}

	@Override
	public void run() {
		while (true) {
			try {
				if (step()) {
					return;
				}
			}
			catch (Throwable t) {
				// A bug or an I/O failure must not end delivery for good: log, pause, carry on.
				log.error("dormant: unexpected error in the event dispatcher; continuing", t);
				if (stopping) {
					return;
				}
				pause(TimeUnit.SECONDS.toNanos(1));
			}
		}
	}

	/** One turn of the loop; true when the thread should end. */
	private boolean step() throws IOException {
		long now = System.nanoTime();
		if (stopping) {
			flushForStop();
			logStats(true);
			return true;
		}
		if (cfg == null || now - nextConfigAt >= 0) {
			reloadConfig();
			nextConfigAt = now + TimeUnit.MILLISECONDS.toNanos(cfg == null ? 5_000 : cfg.configRefreshMs);
		}
		if (cfg == null) {
			// Settings unreadable (OpenMRS still starting?): the queue holds events meanwhile.
			pause(TimeUnit.SECONDS.toNanos(1));
			return false;
		}
		if (now - nextStatsAt >= 0) {
			logStats(false);
			nextStatsAt = now + TimeUnit.MILLISECONDS.toNanos(cfg.statsLogMs);
		}
		long batchWait = TimeUnit.MILLISECONDS.toNanos(cfg.batchWaitMs);
		if (!cfg.complete()) {
			// Say why first, then keep what happens before the module is configured: it is sent once it is.
			if (now - nextIncompleteWarnAt >= 0) {
				log.error("dormant: not sending login events: " + String.join("; ", cfg.problems)
				        + ". Set them in Admin > Settings; events are kept in the spool meanwhile.",
				    null);
				nextIncompleteWarnAt = now + TimeUnit.MILLISECONDS.toNanos(cfg.authRetryMs);
			}
			toSpool(normalize(queue.drain(Integer.MAX_VALUE)));
			pause(batchWait);
			return false;
		}
		if (spool != null && !spool.isEmpty()) {
			toSpool(normalize(queue.drain(Integer.MAX_VALUE)));
			if (now - nextReplayAt >= 0) {
				replayOnce();
			} else {
				pause(Math.min(nextReplayAt - now, batchWait));
			}
			return false;
		}
		int n = queue.size();
		if (n == 0) {
			firstWaitingAt = 0;
			pause(batchWait);
			return false;
		}
		if (n < cfg.batchSize) {
			if (firstWaitingAt == 0) {
				firstWaitingAt = now;
			}
			long left = firstWaitingAt + batchWait - now;
			if (left > 0) {
				pause(left);
				return false;
			}
		}
		firstWaitingAt = 0;
		deliverLive(normalize(queue.drain(cfg.batchSize)));
		return false;
	}

	private void reloadConfig() {
		Config c;
		try {
			c = Config.load(source);
		}
		catch (Throwable t) {
			if (cfg == null) {
				log.warn("dormant: cannot read the dormant.* settings yet (" + t + "); will retry");
			} else {
				log.warn("dormant: cannot re-read the dormant.* settings (" + t + "); keeping the previous ones");
			}
			return;
		}
		String problems = String.join("; ", c.problems) + " | " + String.join("; ", c.notes);
		if (!problems.equals(lastProblems)) {
			for (String note : c.notes) {
				log.warn("dormant: " + note);
			}
			if (c.complete()) {
				log.info("dormant: sending login events to " + c.ingestUrl + " for site " + c.site + " as " + c.source);
			}
			lastProblems = problems;
			nextIncompleteWarnAt = 0;
		}
		queue.setCapacity(c.queueCapacity);
		queue.setConsumer(Thread.currentThread(), c.batchSize);
		if (!c.sameTarget(cfg)) {
			http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
			        .connectTimeout(Duration.ofMillis(c.connectTimeoutMs)).followRedirects(HttpClient.Redirect.NEVER)
			        .build();
			// New address or credentials: whatever failed before may work now.
			nextReplayAt = System.nanoTime();
			replayFailures = 0;
		}
		if (spool == null && c.spoolDir != null) {
			try {
				spool = new Spool(Paths.get(c.spoolDir), c.spoolMaxBytes, counters, log);
				spoolDir = c.spoolDir;
				if (!spool.isEmpty()) {
					log.info("dormant: " + spool.bytes() + " bytes of events in the spool " + spoolDir
					        + " from before; replaying them first");
				}
			}
			catch (IOException | RuntimeException e) {
				log.error("dormant: cannot open the spool " + c.spoolDir
				        + "; events that cannot be sent will be dropped until it can be opened",
				    e);
			}
		} else if (spool != null && c.spoolDir != null && !c.spoolDir.equals(spoolDir)) {
			log.warn("dormant: " + Config.SPOOL_DIR + " changed; the new folder is used after OpenMRS restarts");
		}
		if (spool == null && c.spoolDir == null) {
			log.error("dormant: " + Config.SPOOL_DIR + " is not set; events that cannot be sent will be dropped", null);
		}
		replayLimit = c.batchSize;
		cfg = c;
	}

	/** Assigns ids and applies the schema's rules; drops (and counts) what cannot be described. */
	private List<SessionRecord> normalize(List<SessionRecord> in) {
		List<SessionRecord> out = new ArrayList<>(in.size());
		int unnamed = 0;
		for (SessionRecord r : in) {
			SessionRecord n = r.normalized();
			if (n == null) {
				unnamed++;
			} else {
				out.add(n);
			}
		}
		if (unnamed > 0) {
			counters.dropped.addAndGet(unnamed);
			log.warn("dormant: dropped " + unnamed + " events with neither a username nor a system id");
		}
		return out;
	}

	private void deliverLive(List<SessionRecord> batch) throws IOException {
		if (batch.isEmpty()) {
			return;
		}
		if (spool != null && !spool.isEmpty()) {
			// Something older is waiting: keep the order.
			toSpool(batch);
			return;
		}
		for (int attempt = 1;; attempt++) {
			Response r = post(batch, cfg.requestTimeoutMs);
			switch (r.kind) {
				case OK:
					counters.sent.addAndGet(batch.size());
					return;
				case BAD:
					refused(batch, r, false);
					return;
				case TOO_LARGE:
					if (batch.size() == 1) {
						tooLargeAlone(r);
						return;
					}
					int half = batch.size() / 2;
					deliverLive(new ArrayList<>(batch.subList(0, half)));
					deliverLive(new ArrayList<>(batch.subList(half, batch.size())));
					return;
				case CONFIG:
					configProblem(r);
					toSpool(batch);
					nextReplayAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(cfg.authRetryMs);
					return;
				default:
					long delay = Math.max(backoffMs(attempt), r.retryAfterMs);
					if (attempt >= cfg.maxAttempts || stopping || delay > Math.min(cfg.retryMaxMs, MAX_INLINE_WAIT_MS)) {
						log.warn("dormant: login-ingest unavailable (" + describe(r) + ") after " + attempt
						        + " tries; keeping " + batch.size() + " events in the spool");
						toSpool(batch);
						replayFailures = 1;
						nextReplayAt = System.nanoTime()
						        + TimeUnit.MILLISECONDS.toNanos(Math.max(backoffMs(1), r.retryAfterMs));
						return;
					}
					sleep(TimeUnit.MILLISECONDS.toNanos(delay));
			}
		}
	}

	private void replayOnce() throws IOException {
		Spool.Batch b = spool.peek(replayLimit);
		if (b.records.isEmpty()) {
			forgetReplayed(b);
			return;
		}
		Response r = post(b.records, cfg.requestTimeoutMs);
		switch (r.kind) {
			case OK:
				counters.replayed.addAndGet(b.records.size());
				forgetReplayed(b);
				replayFailures = 0;
				replayLimit = cfg.batchSize;
				nextReplayAt = System.nanoTime();
				if (spool.isEmpty()) {
					log.info("dormant: login-ingest is taking events again; the spool is empty. " + counters.snapshot());
				}
				return;
			case BAD:
				refused(b.records, r, true);
				forgetReplayed(b);
				return;
			case TOO_LARGE:
				if (b.records.size() == 1) {
					tooLargeAlone(r);
					forgetReplayed(b);
				} else {
					replayLimit = Math.max(1, b.records.size() / 2);
				}
				return;
			case CONFIG:
				configProblem(r);
				nextReplayAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(cfg.authRetryMs);
				return;
			default:
				replayFailures++;
				long delay = Math.max(backoffMs(replayFailures), r.retryAfterMs);
				nextReplayAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(delay);
		}
	}

	private void forgetReplayed(Spool.Batch b) throws IOException {
		if (b.damaged > 0) {
			counters.failed.addAndGet(b.damaged);
			log.warn("dormant: skipped " + b.damaged + " damaged lines in the spool");
		}
		spool.commit(b);
	}

	/** Sends what it can before the deadline, one try per batch, and spools the rest. */
	private void flushForStop() throws IOException {
		List<SessionRecord> all = normalize(queue.drain(Integer.MAX_VALUE));
		if (cfg == null || !cfg.complete() || (spool != null && !spool.isEmpty())) {
			toSpool(all);
			return;
		}
		for (int i = 0; i < all.size(); i += cfg.batchSize) {
			List<SessionRecord> batch = all.subList(i, Math.min(all.size(), i + cfg.batchSize));
			long leftMs = TimeUnit.NANOSECONDS.toMillis(stopDeadline - System.nanoTime());
			Response r = leftMs <= 0 ? null
			        : post(batch, Math.min(cfg.requestTimeoutMs, leftMs));
			if (r != null && r.kind == Kind.OK) {
				counters.sent.addAndGet(batch.size());
			} else if (r != null && r.kind == Kind.BAD) {
				refused(batch, r, false);
			} else {
				toSpool(new ArrayList<>(all.subList(i, all.size())));
				return;
			}
		}
	}

	private void toSpool(List<SessionRecord> batch) {
		if (batch.isEmpty()) {
			return;
		}
		if (spool == null) {
			counters.dropped.addAndGet(batch.size());
			log.error("dormant: no spool; dropped " + batch.size() + " events", null);
			return;
		}
		long before = counters.spooled.get();
		// An interrupt from stop() may still be pending (it can land after a POST returned); clear
		// it so the spool's interruptible FileChannel does not refuse the write.
		Thread.interrupted();
		try {
			spool.append(batch);
		}
		catch (IOException | RuntimeException e) {
			long lost = batch.size() - (counters.spooled.get() - before);
			counters.dropped.addAndGet(lost);
			log.error("dormant: cannot write to the spool " + spoolDir + "; dropped " + lost + " events", e);
		}
	}

	/** 400: login-ingest kept the good events and dead-lettered the bad ones; resending changes nothing. */
	private void refused(List<SessionRecord> batch, Response r, boolean replay) {
		long accepted = 0;
		Matcher m = ACCEPTED.matcher(r.body == null ? "" : r.body);
		if (m.find()) {
			try {
				accepted = Math.min(batch.size(), Long.parseLong(m.group(1)));
			}
			catch (NumberFormatException e) {
				accepted = 0;
			}
		}
		(replay ? counters.replayed : counters.sent).addAndGet(accepted);
		counters.failed.addAndGet(batch.size() - accepted);
		log.warn("dormant: login-ingest refused " + (batch.size() - accepted) + " of " + batch.size()
		        + " events (not resent; it keeps refused events in its dead-letter queue): " + clip(r.body));
	}

	private void tooLargeAlone(Response r) {
		counters.failed.incrementAndGet();
		log.warn("dormant: login-ingest refused a single event as too large (not resent): " + clip(r.body));
	}

	private void configProblem(Response r) {
		log.error("dormant: login-ingest at " + cfg.ingestUrl + " refused the hook (" + describe(r) + "). Check "
		        + Config.INGEST_URL + ", " + Config.TOKEN + " and " + Config.SITE
		        + " in Admin > Settings; events are kept in the spool and retried every " + cfg.authRetryMs / 1000
		        + " s.",
		    null);
	}

	private Response post(List<SessionRecord> batch, long timeoutMs) {
		StringBuilder sb = new StringBuilder(batch.size() * 512);
		sb.append('[');
		for (int i = 0; i < batch.size(); i++) {
			if (i > 0) {
				sb.append(',');
			}
			batch.get(i).appendCloudEvent(sb, cfg.source, cfg.site);
		}
		sb.append(']');
		HttpRequest req;
		try {
			req = HttpRequest.newBuilder(URI.create(cfg.ingestUrl)).timeout(Duration.ofMillis(Math.max(1, timeoutMs)))
			        .header("Content-Type", CONTENT_TYPE).header("Authorization", "Bearer " + cfg.token)
			        .POST(HttpRequest.BodyPublishers.ofString(sb.toString(), StandardCharsets.UTF_8)).build();
		}
		catch (IllegalArgumentException e) {
			return new Response(Kind.CONFIG, 0, "cannot build the request: " + e.getMessage(), 0);
		}
		HttpResponse<String> resp;
		try {
			resp = http.send(req, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
		}
		catch (IOException e) {
			return new Response(Kind.RETRY, 0, e.toString(), 0);
		}
		catch (InterruptedException e) {
			// Only stop() interrupts this thread, after its deadline: the flush then spools what is
			// left. The flag is deliberately not restored: the spool's FileChannel would see it and
			// close itself (ClosedByInterruptException), losing exactly the events being saved.
			return new Response(Kind.RETRY, 0, "interrupted", 0);
		}
		int s = resp.statusCode();
		String body = resp.body();
		long retryAfter = retryAfterMs(resp.headers().firstValue("Retry-After").orElse(null));
		if (s >= 200 && s < 300) {
			return new Response(Kind.OK, s, body, 0);
		}
		if (s == 400) {
			return new Response(Kind.BAD, s, body, 0);
		}
		if (s == 413) {
			return new Response(Kind.TOO_LARGE, s, body, 0);
		}
		if (s == 408 || s == 429 || s >= 500) {
			return new Response(Kind.RETRY, s, body, retryAfter);
		}
		// 401, 403, and anything else (a redirect, 404, 415) means the URL or token is wrong.
		return new Response(Kind.CONFIG, s, body, 0);
	}

	/** Retry-After in seconds or as an HTTP date; 0 if absent or unreadable. Capped at a day. */
	static long retryAfterMs(String v) {
		if (v == null || v.trim().isEmpty()) {
			return 0;
		}
		v = v.trim();
		long ms;
		try {
			ms = Long.parseLong(v) * 1000;
		}
		catch (NumberFormatException e) {
			try {
				ms = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant().toEpochMilli()
				        - System.currentTimeMillis();
			}
			catch (RuntimeException e2) {
				return 0;
			}
		}
		return Math.max(0, Math.min(ms, 86_400_000L));
	}

	/** Exponential with "equal jitter": half fixed so it always grows, half random to spread clients. */
	private long backoffMs(int attempt) {
		long exp = cfg.retryBaseMs << Math.min(30, Math.max(0, attempt - 1));
		long cap = Math.min(cfg.retryMaxMs, exp < 0 ? Long.MAX_VALUE : exp);
		long half = cap / 2;
		return half + ThreadLocalRandom.current().nextLong(cap - half + 1);
	}

	/** Waits up to nanos; a new batch in the queue or stop() ends the wait early. */
	private void pause(long nanos) {
		if (nanos > 0 && !stopping) {
			LockSupport.parkNanos(this, nanos);
		}
	}

	/**
	 * Waits the whole backoff (or Retry-After) even when new events arrive, which would otherwise
	 * unpark the thread and retry early; only stop() cuts it short.
	 */
	private void sleep(long nanos) {
		long end = System.nanoTime() + nanos;
		for (long left = nanos; left > 0 && !stopping; left = end
		        - System.nanoTime()) {
			LockSupport.parkNanos(this, left);
		}
	}

	private void logStats(boolean always) {
		Counters.Snapshot s = counters.snapshot();
		if (always || !s.equals(lastLogged)) {
			log.info("dormant: " + s + " inQueue=" + queue.size() + " spoolBytes="
			        + (spool == null ? 0 : spool.bytes()));
			lastLogged = s;
		}
	}

	private static String describe(Response r) {
		return (r.status == 0 ? "" : "HTTP " + r.status + ": ") + clip(r.body);
	}

	private static String clip(String s) {
		if (s == null) {
			return "";
		}
		s = s.trim();
		return s.length() <= MAX_LOGGED_BODY ? s : s.substring(0, MAX_LOGGED_BODY) + "...";
	}
}
