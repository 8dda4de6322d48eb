package events

import (
	"bytes"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
)

// SessionEvent is a user-session event as the ingest consumer needs it: the decoded data
// and the two envelope attributes it acts on.
type SessionEvent struct {
	// ID is the event's id attribute, as the SDK would read it.
	ID string
	// Site is the site extension, already checked by ValidSite.
	Site string
	Data UserSession
}

// FastUserSession reads a binary-mode NATS message of type org.openmrs.user.session
// without building an SDK event: it is what FromNATS followed by Decode gives for the
// messages dormant's hook, ToNATS and the SDK's NATS binding send, at a fraction of the cost.
//
// It only ever accepts: whenever the message is not of that common shape, or anything about
// it is wrong, it returns false and the caller must take the SDK path (FromNATS, Decode),
// which then gives the error. So a bad message is refused with exactly the error, field and
// dead-letter reason it always had, and FuzzFastUserSession checks that what this accepts
// the SDK path accepts with an equal result.
func FastUserSession(h nats.Header, data []byte) (SessionEvent, bool) {
	var (
		out                                               SessionEvent
		specversion, id, source, typ, ceContentType, site string
		contentType, dataschema, tm                       string
		hasSpec, hasID, hasSource, hasType, hasSite       bool
		hasContentType, hasSchema, hasTime                bool
	)
	for k, vs := range h {
		if len(vs) == 0 {
			// FromNATS skips these whatever their name.
			continue
		}
		v := vs[0]
		name, ce := strings.CutPrefix(k, cePrefix)
		if !ce {
			if k == "content-type" {
				contentType, hasContentType = v, true
				continue
			}
			if !plainHeaderIgnored(k) {
				return out, false
			}
			continue
		}
		// FromNATS lower-cases names; one already in lower case is taken as it is, any other
		// (or a second spelling of the same name) goes to the SDK path.
		switch name {
		case "specversion":
			specversion, hasSpec = v, true
		case "id":
			id, hasID = v, true
		case "source":
			source, hasSource = v, true
		case "type":
			typ, hasType = v, true
		case "time":
			tm, hasTime = v, true
		case "dataschema":
			dataschema, hasSchema = v, true
		case "datacontenttype":
			ceContentType = v
		case "site":
			site, hasSite = v, true
		case "subject", "traceparent":
			// Accepted as any string by the SDK (subject is trimmed, and may be blank); the
			// consumer does not read them.
		default:
			return out, false
		}
	}
	// The envelope, as FromNATS and attrs.toEvent check it.
	if !hasType || typ != TypeUserSession || !hasSpec || specversion != "1.0" {
		return out, false
	}
	if !hasID || id == "" || strings.TrimSpace(id) != id {
		// The SDK trims the id; an id it would change is left to it.
		return out, false
	}
	if !hasSource || !validSource(source) {
		return out, false
	}
	if hasSchema && dataschema != userSessionSchema {
		return out, false
	}
	if hasTime {
		if _, err := time.Parse(time.RFC3339Nano, tm); err != nil {
			return out, false
		}
	}
	ct := contentType
	if !hasContentType || ct == "" {
		ct = ceContentType
	}
	if ct != "" && ct != ContentTypeJSON {
		return out, false
	}
	// The site, as Decode checks it for per-site types.
	if !hasSite || !ValidSite(site) {
		return out, false
	}
	// The data, as Decode reads it.
	raw := bytes.TrimSpace(data)
	if len(raw) == 0 || raw[0] != '{' || bytes.IndexByte(raw, '\\') >= 0 {
		// Escapes would need encoding/json's unquoting; rare in practice, left to it.
		return out, false
	}
	if !utf8.Valid(raw) || !parseUserSession(raw, &out.Data) {
		return out, false
	}
	if out.Data.Validate() != nil {
		return out, false
	}
	out.ID, out.Site = id, site
	return out, true
}

// userSessionSchema is SchemaURI(TypeUserSession), built once rather than per message.
var userSessionSchema = SchemaURI(TypeUserSession)

// plainHeaderIgnored reports whether FromNATS ignores a header that does not start with a
// lower-case "ce-": its lower-cased name neither starts with "ce-" nor is content-type. A
// name with bytes outside ASCII is not judged here (strings.ToLower rewrites them).
func plainHeaderIgnored(k string) bool {
	for i := 0; i < len(k); i++ {
		if k[i] >= utf8.RuneSelf {
			return false
		}
	}
	if len(k) >= len(cePrefix) && strings.EqualFold(k[:len(cePrefix)], cePrefix) {
		return false
	}
	return !strings.EqualFold(k, "content-type")
}

// sources remembers source attributes url.Parse accepted: a deployment has a handful (one
// per OpenMRS), and parsing one costs more than the rest of the envelope. Bounded, so a
// stream of made-up sources cannot grow it.
var sources struct {
	sync.RWMutex
	ok map[string]struct{}
}

const maxSources = 1024

// validSource reports whether the SDK accepts source: url.Parse succeeds and the parsed
// reference does not print as blank.
func validSource(source string) bool {
	sources.RLock()
	_, ok := sources.ok[source]
	sources.RUnlock()
	if ok {
		return true
	}
	u, err := url.Parse(source)
	if err != nil || strings.TrimSpace(u.String()) == "" {
		return false
	}
	sources.Lock()
	if sources.ok == nil || len(sources.ok) >= maxSources {
		sources.ok = map[string]struct{}{}
	}
	sources.ok[source] = struct{}{}
	sources.Unlock()
	return true
}

// maxDepth bounds the nesting the scanner follows; deeper data (encoding/json allows 10000)
// is left to the SDK path.
const maxDepth = 32

// parseUserSession reads raw, a JSON text of valid UTF-8 with no backslash, into d as
// encoding/json would: fields matched by name (unknown lower-case names skipped), the last
// duplicate winning, null leaving a field as it was, occurred_at read by
// time.Time.UnmarshalJSON. It checks the syntax as strictly as json.Valid (RFC 8259) while
// it reads, so it accepts only what json.Valid accepts. It returns false wherever
// encoding/json would fail (bad syntax, a value of the wrong type, a bad time) or its rules
// are not mirrored here (names that are not plain lower-case ASCII, which encoding/json
// would match case-insensitively; deep nesting).
func parseUserSession(raw []byte, d *UserSession) bool {
	// One copy of the whole body; every string field is a slice of it rather than a copy of
	// its own.
	p := jsonScanner{b: raw, s: string(raw)}
	p.ws()
	if !p.eat('{') {
		return false
	}
	p.ws()
	if p.eat('}') {
		return p.end()
	}
	for {
		p.ws()
		ks, ke, ok := p.str()
		if !ok {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		var field *string
		switch key := p.b[ks:ke]; string(key) { // no allocation: compared in place
		case "event":
			field = &d.Event
		case "status":
			field = &d.Status
		case "user_uuid":
			field = &d.UserUUID
		case "username":
			field = &d.Username
		case "system_id":
			field = &d.SystemID
		case "method":
			field = &d.Method
		case "location_uuid":
			field = &d.LocationUUID
		case "client_ip":
			field = &d.ClientIP
		case "occurred_at":
			switch p.peek() {
			case 'n':
				if !p.lit("null") {
					return false
				}
			case '"':
				start := p.i
				if _, _, ok := p.str(); !ok {
					return false
				}
				if d.OccurredAt.UnmarshalJSON(p.b[start:p.i]) != nil {
					return false
				}
			default:
				return false
			}
		default:
			if !plainLowerASCII(key) || !p.value(0) {
				return false
			}
		}
		if field != nil {
			switch p.peek() {
			case 'n':
				if !p.lit("null") {
					return false
				}
			case '"':
				start, end, ok := p.str()
				if !ok {
					return false
				}
				*field = p.s[start:end]
			default:
				return false
			}
		}
		p.ws()
		switch {
		case p.eat(','):
		case p.eat('}'):
			return p.end()
		default:
			return false
		}
	}
}

// plainLowerASCII reports whether encoding/json could match name to a field only by
// equality: it holds no upper-case letter and no byte outside ASCII (where case folding,
// such as the Kelvin sign for k, could make it match).
func plainLowerASCII(name []byte) bool {
	for _, c := range name {
		if c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// jsonScanner checks and walks JSON with no backslash in it.
type jsonScanner struct {
	b []byte
	s string // b as a string
	i int
}

func (p *jsonScanner) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *jsonScanner) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only JSON whitespace follows.
func (p *jsonScanner) end() bool {
	p.ws()
	return p.i == len(p.b)
}

func (p *jsonScanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonScanner) lit(word string) bool {
	if !strings.HasPrefix(p.s[p.i:], word) {
		return false
	}
	p.i += len(word)
	return true
}

// str reads a string at p.i and returns where its contents start and end. Control
// characters are not allowed in a JSON string; escapes never reach here.
func (p *jsonScanner) str() (start, end int, ok bool) {
	if !p.eat('"') {
		return 0, 0, false
	}
	start = p.i
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			end = p.i
			p.i++
			return start, end, true
		case c < 0x20:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

func (p *jsonScanner) digits() bool {
	n := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > n
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonScanner) number() bool {
	p.eat('-')
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case '1' <= c && c <= '9':
		p.digits()
	default:
		return false
	}
	if p.eat('.') && !p.digits() {
		return false
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

// value reads and checks one value of any kind.
func (p *jsonScanner) value(depth int) bool {
	switch c := p.peek(); {
	case c == '"':
		_, _, ok := p.str()
		return ok
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return false
		}
		p.i++
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		p.ws()
		if p.eat(close) {
			return true
		}
		for {
			p.ws()
			if c == '{' {
				if _, _, ok := p.str(); !ok {
					return false
				}
				p.ws()
				if !p.eat(':') {
					return false
				}
				p.ws()
			}
			if !p.value(depth + 1) {
				return false
			}
			p.ws()
			switch {
			case p.eat(','):
			case p.eat(close):
				return true
			default:
				return false
			}
		}
	}
	return false
}
