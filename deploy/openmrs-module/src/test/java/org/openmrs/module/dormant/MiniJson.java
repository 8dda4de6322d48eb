package org.openmrs.module.dormant;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strict JSON parser for the tests, written independently of the module's Json class so a bug
 * there cannot hide itself: objects become LinkedHashMap, arrays ArrayList, numbers Double or Long,
 * true/false Boolean, null null. Anything RFC 8259 does not allow throws (raw control characters in
 * strings, trailing commas, trailing garbage, bad escapes).
 */
final class MiniJson {

	private final String s;

	private int i;

	private MiniJson(String s) {
		this.s = s;
	}

	static Object parse(String s) {
		MiniJson p = new MiniJson(s);
		p.ws();
		Object v = p.value();
		p.ws();
		if (p.i != s.length()) {
			throw p.err("trailing characters");
		}
		return v;
	}

	@SuppressWarnings("unchecked")
	static List<Object> array(String s) {
		Object v = parse(s);
		if (!(v instanceof List)) {
			throw new AssertionError("not a JSON array: " + s);
		}
		return (List<Object>) v;
	}

	@SuppressWarnings("unchecked")
	static Map<String, Object> obj(Object v) {
		if (!(v instanceof Map)) {
			throw new AssertionError("not a JSON object: " + v);
		}
		return (Map<String, Object>) v;
	}

	private Object value() {
		char c = peek();
		switch (c) {
			case '{':
				return object();
			case '[':
				return list();
			case '"':
				return string();
			case 't':
				return word("true", Boolean.TRUE);
			case 'f':
				return word("false", Boolean.FALSE);
			case 'n':
				return word("null", null);
			default:
				return number();
		}
	}

	private Object word(String w, Object v) {
		if (!s.startsWith(w, i)) {
			throw err("bad literal");
		}
		i += w.length();
		return v;
	}

	private Map<String, Object> object() {
		Map<String, Object> m = new LinkedHashMap<>();
		i++;
		ws();
		if (peek() == '}') {
			i++;
			return m;
		}
		while (true) {
			ws();
			String k = string();
			ws();
			expect(':');
			ws();
			if (m.containsKey(k)) {
				throw err("duplicate key " + k);
			}
			m.put(k, value());
			ws();
			char c = s.charAt(i++);
			if (c == '}') {
				return m;
			}
			if (c != ',') {
				throw err("expected , or }");
			}
		}
	}

	private List<Object> list() {
		List<Object> l = new ArrayList<>();
		i++;
		ws();
		if (peek() == ']') {
			i++;
			return l;
		}
		while (true) {
			ws();
			l.add(value());
			ws();
			char c = s.charAt(i++);
			if (c == ']') {
				return l;
			}
			if (c != ',') {
				throw err("expected , or ]");
			}
		}
	}

	private String string() {
		expect('"');
		StringBuilder b = new StringBuilder();
		while (true) {
			char c = s.charAt(i++);
			if (c == '"') {
				return b.toString();
			}
			if (c < 0x20) {
				throw err("raw control character");
			}
			if (c != '\\') {
				b.append(c);
				continue;
			}
			char e = s.charAt(i++);
			switch (e) {
				case '"':
				case '\\':
				case '/':
					b.append(e);
					break;
				case 'b':
					b.append('\b');
					break;
				case 'f':
					b.append('\f');
					break;
				case 'n':
					b.append('\n');
					break;
				case 'r':
					b.append('\r');
					break;
				case 't':
					b.append('\t');
					break;
				case 'u':
					b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
					i += 4;
					break;
				default:
					throw err("bad escape");
			}
		}
	}

	private Object number() {
		int start = i;
		while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
			i++;
		}
		String n = s.substring(start, i);
		if (n.isEmpty()) {
			throw err("unexpected character");
		}
		return n.matches("-?\\d+") ? (Object) Long.parseLong(n) : (Object) Double.parseDouble(n);
	}

	private void ws() {
		while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) {
			i++;
		}
	}

	private char peek() {
		if (i >= s.length()) {
			throw err("unexpected end");
		}
		return s.charAt(i);
	}

	private void expect(char c) {
		if (peek() != c) {
			throw err("expected " + c);
		}
		i++;
	}

	private IllegalArgumentException err(String what) {
		return new IllegalArgumentException(what + " at " + i + " in " + s);
	}
}
