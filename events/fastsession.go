package events

import (
	"bytes"
	"encoding/json"
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
	if hasSchema && dataschema != SchemaURI(TypeUserSession) {
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
	if !utf8.Valid(raw) || !json.Valid(raw) {
		return out, false
	}
	if !parseUserSession(raw, &out.Data) {
		return out, false
	}
	if out.Data.Validate() != nil {
		return out, false
	}
	out.ID, out.Site = id, site
	return out, true
}

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

// parseUserSession reads raw, a JSON object that json.Valid accepted and that holds no
// backslash, into d as encoding/json would: fields matched by name (unknown lower-case
// names skipped), the last duplicate winning, null leaving a field as it was, occurred_at
// read by time.Time.UnmarshalJSON. It returns false where encoding/json would fail (a value
// of the wrong type, a bad time) or where its rules are not mirrored here (names that are
// not plain lower-case ASCII, which encoding/json would match case-insensitively).
func parseUserSession(raw []byte, d *UserSession) bool {
	// One copy of the whole body; every string field is a slice of it rather than a copy of
	// its own.
	p := jsonScanner{b: raw, s: string(raw)}
	p.ws()
	p.i++ // '{'
	p.ws()
	if p.peek() == '}' {
		return true
	}
	for {
		p.ws()
		key, ok := p.str()
		if !ok {
			return false
		}
		p.ws()
		p.i++ // ':'
		p.ws()
		var field *string
		switch string(key) { // no allocation: the compiler compares in place
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
				p.i += len("null")
			case '"':
				start := p.i
				if _, ok := p.str(); !ok {
					return false
				}
				if d.OccurredAt.UnmarshalJSON(p.b[start:p.i]) != nil {
					return false
				}
			default:
				return false
			}
		default:
			if !plainLowerASCII(key) {
				return false
			}
			p.skip()
		}
		if field != nil {
			switch p.peek() {
			case 'n':
				p.i += len("null")
			case '"':
				start := p.i + 1
				if _, ok := p.str(); !ok {
					return false
				}
				*field = p.s[start : p.i-1]
			default:
				return false
			}
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			return true
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

// jsonScanner walks JSON that json.Valid accepted and that holds no backslash, so it checks
// nothing but where things end.
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

// str reads a string at p.i and returns its contents (no escapes to undo).
func (p *jsonScanner) str() ([]byte, bool) {
	if p.peek() != '"' {
		return nil, false
	}
	end := bytes.IndexByte(p.b[p.i+1:], '"')
	if end < 0 {
		return nil, false
	}
	s := p.b[p.i+1 : p.i+1+end]
	p.i += end + 2
	return s, true
}

// skip passes over one value of any kind.
func (p *jsonScanner) skip() {
	depth := 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '"':
			p.str()
			if depth == 0 {
				return
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				// The end of the enclosing object: a scalar ended just before.
				return
			}
			depth--
			if depth == 0 {
				p.i++
				return
			}
		case ',':
			if depth == 0 {
				return
			}
		}
		p.i++
	}
}
