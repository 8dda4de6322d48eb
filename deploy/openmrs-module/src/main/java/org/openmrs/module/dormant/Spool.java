package org.openmrs.module.dormant;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * Events login-ingest could not take yet, on disk, oldest first, surviving restarts.
 * <p>
 * Layout: segment files {@code seg-<sequence>.jsonl} of JSON lines (one {@link SessionRecord} each)
 * and a {@code head} file naming the first unsent byte ("sequence offset"). Segments rather than one
 * file so that dropping the oldest events when the spool is full, and forgetting sent ones, is a file
 * deletion instead of a rewrite. The head is moved only after login-ingest has accepted the events,
 * so a crash in between resends them; event ids make the resend harmless downstream.
 * <p>
 * Used by the dispatcher thread only; not thread-safe.
 */
final class Spool {

	private static final String HEAD = "head";

	private final Path dir;

	private final long maxBytes;

	private final long segmentBytes;

	private final Counters counters;

	private final Log log;

	/** Segment sequence to file size. */
	private final TreeMap<Long, Long> segments = new TreeMap<>();

	private long headSeq;

	private long headOffset;

	private long totalBytes;

	/** The last segment may only be appended to when it ends with a whole line. */
	private boolean tailClean = true;

	/** Lines in the write buffer: counted as spooled only once they are on disk. */
	private int bufLines;

	Spool(Path dir, long maxBytes, Counters counters, Log log) throws IOException {
		this.dir = dir;
		this.maxBytes = maxBytes;
		// Several segments per spool, so dropping the oldest frees a fraction of it, not all.
		// A segment smaller than a line just holds that one line.
		this.segmentBytes = Math.max(256, Math.min(4L * 1024 * 1024, maxBytes / 8));
		this.counters = counters;
		this.log = log;
		Files.createDirectories(dir);
		try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "seg-*.jsonl")) {
			for (Path p : ds) {
				String n = p.getFileName().toString();
				try {
					long seq = Long.parseLong(n.substring(4, n.length() - 6));
					segments.put(seq, Files.size(p));
				}
				catch (NumberFormatException e) {
					log.warn("dormant: ignoring unexpected file in the spool: " + p);
				}
			}
		}
		for (long size : segments.values()) {
			totalBytes += size;
		}
		readHead();
		if (!segments.isEmpty()) {
			Path last = segment(segments.lastKey());
			long size = segments.lastEntry().getValue();
			if (size > 0) {
				try (RandomAccessFile f = new RandomAccessFile(last.toFile(), "r")) {
					f.seek(size - 1);
					// A line cut short by a crash must not be glued to the next record.
					tailClean = f.read() == '\n';
				}
			}
		}
	}

	private void readHead() throws IOException {
		Path h = dir.resolve(HEAD);
		headSeq = segments.isEmpty() ? 0 : segments.firstKey();
		headOffset = 0;
		if (!Files.exists(h)) {
			return;
		}
		String[] parts = new String(Files.readAllBytes(h), StandardCharsets.US_ASCII).trim().split(" ");
		try {
			long seq = Long.parseLong(parts[0]);
			long off = Long.parseLong(parts[1]);
			Long size = segments.get(seq);
			if (size != null && off >= 0 && off <= size) {
				headSeq = seq;
				headOffset = off;
			} else if (!segments.isEmpty() && seq > segments.lastKey()) {
				headSeq = seq;
				headOffset = 0;
			}
		}
		catch (RuntimeException e) {
			log.warn("dormant: spool head file is damaged; replaying the spool from its oldest event");
		}
		// Segments before the head were sent but not yet deleted (crash between the two steps).
		while (!segments.isEmpty() && segments.firstKey() < headSeq) {
			deleteSegment(segments.firstKey());
		}
	}

	boolean isEmpty() {
		if (segments.isEmpty()) {
			return true;
		}
		return headSeq == segments.lastKey() && headOffset >= segments.lastEntry().getValue();
	}

	long bytes() {
		return totalBytes;
	}

	/** Appends the records and syncs them to disk; drops the oldest events if the spool is full. */
	void append(List<SessionRecord> records) throws IOException {
		if (records.isEmpty()) {
			return;
		}
		ByteArrayOutputStream buf = new ByteArrayOutputStream();
		bufLines = 0;
		long seq = -1;
		FileChannel ch = null;
		try {
			for (SessionRecord r : records) {
				byte[] line = (r.toSpoolLine() + "\n").getBytes(StandardCharsets.UTF_8);
				if (line.length > maxBytes) {
					counters.dropped.incrementAndGet();
					continue;
				}
				while (totalBytes + buf.size() + line.length > maxBytes && dropOldest(seq)) {
					// keep dropping whole old segments until the new line fits
				}
				if (totalBytes + buf.size() + line.length > maxBytes) {
					// Only the segment being written is left: this line cannot fit.
					counters.dropped.incrementAndGet();
					continue;
				}
				if (ch == null || !tailClean || segments.get(seq) + buf.size() + line.length > segmentBytes) {
					if (ch != null) {
						flush(ch, buf, seq);
						ch.close();
					}
					seq = writableSegment(line.length);
					ch = FileChannel.open(segment(seq), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
					    StandardOpenOption.APPEND);
				}
				buf.write(line);
				bufLines++;
			}
			if (ch != null) {
				flush(ch, buf, seq);
			}
		}
		finally {
			if (ch != null) {
				ch.close();
			}
		}
	}

	private void flush(FileChannel ch, ByteArrayOutputStream buf, long seq) throws IOException {
		ByteBuffer bb = ByteBuffer.wrap(buf.toByteArray());
		while (bb.hasRemaining()) {
			ch.write(bb);
		}
		ch.force(false);
		segments.put(seq, segments.get(seq) + buf.size());
		totalBytes += buf.size();
		counters.spooled.addAndGet(bufLines);
		bufLines = 0;
		buf.reset();
	}

	/** The last segment if this line fits in it, else a new one. */
	private long writableSegment(int lineBytes) throws IOException {
		if (!segments.isEmpty() && tailClean) {
			long last = segments.lastKey();
			if (segments.get(last) + lineBytes <= segmentBytes) {
				return last;
			}
		}
		long seq = segments.isEmpty() ? Math.max(headSeq, 1) : segments.lastKey() + 1;
		Files.createFile(segment(seq));
		segments.put(seq, 0L);
		if (segments.size() == 1) {
			headSeq = seq;
			headOffset = 0;
			writeHead();
		}
		tailClean = true;
		return seq;
	}

	/** Deletes the oldest segment, counting its unsent events as dropped; never the one being written. */
	private boolean dropOldest(long writing) throws IOException {
		if (segments.isEmpty() || segments.firstKey() == writing) {
			return false;
		}
		long seq = segments.firstKey();
		long from = seq == headSeq ? headOffset : 0;
		long lost = countLines(seq, from);
		counters.dropped.addAndGet(lost);
		log.warn("dormant: spool is over " + Config.SPOOL_MAX_BYTES + "=" + maxBytes + " bytes; dropped its oldest "
		        + lost + " events");
		deleteSegment(seq);
		if (segments.isEmpty()) {
			headSeq = seq + 1;
			headOffset = 0;
		} else {
			headSeq = segments.firstKey();
			headOffset = 0;
		}
		writeHead();
		return true;
	}

	private long countLines(long seq, long from) throws IOException {
		long n = 0;
		try (InputStream in = open(seq, from)) {
			int b;
			while ((b = in.read()) != -1) {
				if (b == '\n') {
					n++;
				}
			}
		}
		return n;
	}

	/** The oldest unsent records, up to max, and where the head moves once they are accepted. */
	Batch peek(int max) throws IOException {
		Batch b = new Batch();
		long seq = headSeq;
		long off = headOffset;
		while (b.records.size() < max && segments.containsKey(seq)) {
			long size = segments.get(seq);
			if (off >= size) {
				if (seq == segments.lastKey()) {
					break;
				}
				seq = segments.higherKey(seq);
				off = 0;
				continue;
			}
			try (InputStream in = open(seq, off)) {
				ByteArrayOutputStream line = new ByteArrayOutputStream(256);
				while (b.records.size() < max && off < size) {
					int c = in.read();
					if (c == -1) {
						break;
					}
					off++;
					if (c != '\n') {
						line.write(c);
						continue;
					}
					String text = new String(line.toByteArray(), StandardCharsets.UTF_8);
					line.reset();
					try {
						b.records.add(SessionRecord.fromSpoolLine(text));
					}
					catch (IllegalArgumentException e) {
						b.damaged++;
					}
				}
				if (b.records.size() < max && (off < size || line.size() > 0)) {
					// An unterminated last line (crash mid-write): it cannot be read back.
					b.damaged++;
					off = size;
				}
			}
		}
		b.endSeq = seq;
		b.endOffset = off;
		return b;
	}

	/** Forgets what b covered: login-ingest has it (or refused it for good). */
	void commit(Batch b) throws IOException {
		while (!segments.isEmpty() && segments.firstKey() < b.endSeq) {
			deleteSegment(segments.firstKey());
		}
		headSeq = b.endSeq;
		headOffset = b.endOffset;
		if (isEmpty() && !segments.isEmpty()) {
			// All sent: start over with no files, so an empty spool costs nothing.
			long last = segments.lastKey();
			deleteSegment(last);
			headSeq = last + 1;
			headOffset = 0;
			tailClean = true;
		}
		writeHead();
	}

	private void deleteSegment(long seq) throws IOException {
		Files.deleteIfExists(segment(seq));
		Long size = segments.remove(seq);
		if (size != null) {
			totalBytes -= size;
		}
	}

	private void writeHead() throws IOException {
		Path tmp = dir.resolve(HEAD + ".tmp");
		Files.write(tmp, (headSeq + " " + headOffset + "\n").getBytes(StandardCharsets.US_ASCII));
		Files.move(tmp, dir.resolve(HEAD), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
	}

	private InputStream open(long seq, long from) throws IOException {
		InputStream in = new BufferedInputStream(Files.newInputStream(segment(seq)), 64 * 1024);
		long skipped = 0;
		while (skipped < from) {
			long k = in.skip(from - skipped);
			if (k <= 0) {
				break;
			}
			skipped += k;
		}
		return in;
	}

	private Path segment(long seq) {
		return dir.resolve(String.format("seg-%019d.jsonl", seq));
	}

	/** What {@link #peek} read. */
	static final class Batch {

		final List<SessionRecord> records = new ArrayList<>();

		/** Lines that could not be read back: counted as failed, skipped. */
		int damaged;

		long endSeq;

		long endOffset;
	}
}
