package org.openmrs.module.dormant;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Hand-written JSON, because the module ships no third-party jars and must not depend on whichever
 * JSON library a given OpenMRS version happens to carry. Writing covers strings; reading covers
 * only the flat objects of strings the spool itself writes.
 */
final class Json {

	private static final char[] HEX = "0123456789abcdef".toCharArray();

	private Json() {
	}

	/**
	 * Appends s as a JSON string: quote and backslash escaped, control characters as backslash-u00XX,
	 * everything else (non-ASCII included) kept as is, to be encoded as UTF-8. An unpaired
	 * surrogate cannot be encoded in UTF-8, so it becomes U+FFFD rather than a '?' chosen by the
	 * encoder.
	 */
	static void string(StringBuilder sb, String s) {
		sb.append('"');
		int n = s.length();
		for (int i = 0; i < n; i++) {
			char c = s.charAt(i);
			if (c == '"' || c == '\\') {
				sb.append('\\').append(c);
			} else if (c < 0x20) {
				sb.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xf]);
			} else if (Character.isHighSurrogate(c)) {
				if (i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
					sb.append(c).append(s.charAt(++i));
				} else {
					sb.append('\uFFFD');
				}
			} else if (Character.isLowSurrogate(c)) {
				sb.append('\uFFFD');
			} else {
				sb.append(c);
			}
		}
		sb.append('"');
	}

	/** Appends ,"name":"value" (or "name":"value" when first), nothing when value is null. */
	static boolean field(StringBuilder sb, boolean first, String name, String value) {
		if (value == null) {
			return first;
		}
		if (!first) {
			sb.append(',');
		}
		string(sb, name);
		sb.append(':');
		string(sb, value);
		return false;
	}

	/**
	 * Parses a flat JSON object whose values are strings or null, as written by
	 * {@link SessionRecord#toSpoolLine()}. Throws IllegalArgumentException on anything else, so a
	 * damaged spool line is detected rather than half-read.
	 */
	static Map<String, String> parseFlatObject(String s) {
		Parser p = new Parser(s);
		Map<String, String> out = new LinkedHashMap<>();
		p.skipWs();
		p.expect('{');
		p.skipWs();
		if (p.peek() == '}') {
			p.pos++;
		} else {
			while (true) {
				p.skipWs();
				String key = p.string();
				p.skipWs();
				p.expect(':');
				p.skipWs();
				String value;
				if (s.startsWith("null", p.pos)) {
					p.pos += 4;
					value = null;
				} else {
					value = p.string();
				}
				out.put(key, value);
				p.skipWs();
				char c = p.next();
				if (c == '}') {
					break;
				}
				if (c != ',') {
					throw p.error("expected , or }");
				}
			}
		}
		p.skipWs();
		if (p.pos != s.length()) {
			throw p.error("trailing characters");
		}
		return out;
	}

	private static final class Parser {

		private final String s;

		private int pos;

		Parser(String s) {
			this.s = s;
		}

		char peek() {
			if (pos >= s.length()) {
				throw error("unexpected end");
			}
			return s.charAt(pos);
		}

		char next() {
			char c = peek();
			pos++;
			return c;
		}

		void expect(char c) {
			if (next() != c) {
				throw error("expected " + c);
			}
		}

		void skipWs() {
			while (pos < s.length() && (s.charAt(pos) == ' ' || s.charAt(pos) == '\t' || s.charAt(pos) == '\n'
			        || s.charAt(pos) == '\r')) {
				pos++;
			}
		}

		String string() {
			expect('"');
			StringBuilder sb = new StringBuilder();
			while (true) {
				char c = next();
				if (c == '"') {
					return sb.toString();
				}
				if (c < 0x20) {
					throw error("raw control character in string");
				}
				if (c != '\\') {
					sb.append(c);
					continue;
				}
				char e = next();
				switch (e) {
					case '"':
					case '\\':
					case '/':
						sb.append(e);
						break;
					case 'b':
						sb.append('\b');
						break;
					case 'f':
						sb.append('\f');
						break;
					case 'n':
						sb.append('\n');
						break;
					case 'r':
						sb.append('\r');
						break;
					case 't':
						sb.append('\t');
						break;
					case 'u':
						if (pos + 4 > s.length()) {
							throw error("short \\u escape");
						}
						try {
							sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
						}
						catch (NumberFormatException ex) {
							throw error("bad \\u escape");
						}
						pos += 4;
						break;
					default:
						throw error("bad escape \\" + e);
				}
			}
		}

		IllegalArgumentException error(String what) {
			return new IllegalArgumentException(what + " at offset " + pos);
		}
	}
}
