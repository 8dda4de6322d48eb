package events

import (
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
)

// FastNATS builds the NATS message that ToNATS(subject, New(source, site, d, id, at)) gives,
// byte for byte, without the SDK: the ce- headers and the JSON data are written directly. It
// covers the events login-ingest publishes per event (*LastLoginRecorded, *LoginFailed).
//
// It returns false, and the caller must take the SDK path (which then gives the error),
// for any other type and whenever something is not of the common shape: invalid data, an
// invalid site, a time that is not in UTC, a string that JSON would escape.
// TestFastNATSEqualsTheSDK and FuzzFastNATS keep it equal to the SDK path.
func FastNATS(subject, source, site string, d Data, id string, at time.Time) (*nats.Msg, bool) {
	if id == "" || source == "" || at.IsZero() || !ValidSite(site) || !plainSource(source) {
		return nil, false
	}
	var (
		data    []byte
		subj    string
		typ     string
		schema  string
		ok      bool
		scratch [256]byte
	)
	switch d := d.(type) {
	case *LastLoginRecorded:
		if d.Validate() != nil {
			return nil, false
		}
		typ, subj, schema = TypeLastLoginRecorded, d.UserUUID, lastLoginSchema
		data, ok = appendLastLogin(scratch[:0], d)
	case *LoginFailed:
		if d.Validate() != nil {
			return nil, false
		}
		typ, subj, schema = TypeLoginFailed, d.UserUUID, loginFailedSchema
		data, ok = appendLoginFailed(scratch[:0], d)
	default:
		return nil, false
	}
	if !ok || !plainString(id) {
		return nil, false
	}
	// One backing array for every header value: one allocation rather than one per header.
	vals := [...]string{"1.0", id, source, typ, subj, at.UTC().Format(time.RFC3339Nano), schema, site, ContentTypeJSON, id}
	h := make(nats.Header, len(vals))
	for i, k := range [...]string{"ce-specversion", "ce-id", "ce-source", "ce-type", "ce-subject", "ce-time", "ce-dataschema", "ce-site", "content-type", HeaderMsgID} {
		if k == "ce-subject" && subj == "" {
			continue
		}
		h[k] = vals[i : i+1 : i+1]
	}
	return &nats.Msg{Subject: subject, Header: h, Data: append([]byte(nil), data...)}, true
}

// The dataschema attributes FastNATS writes, built once rather than per event.
var (
	lastLoginSchema   = SchemaURI(TypeLastLoginRecorded)
	loginFailedSchema = SchemaURI(TypeLoginFailed)
)

// plainSource reports whether the SDK keeps source as it is: a path or URL of characters
// that url.Parse neither rejects nor rewrites (no escapes, spaces, query or fragment).
func plainSource(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '/' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return len(s) > 0 && s[0] == '/'
}

// plainString reports whether encoding/json writes s between quotes as it is (printable
// ASCII with nothing to escape, HTML characters included) and the SDK keeps it untrimmed.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return len(s) == 0 || s[0] != ' ' && s[len(s)-1] != ' '
}

// jsonWriter appends JSON as encoding/json writes it, for the values it can write without
// escaping; ok turns false at the first one it cannot.
type jsonWriter struct {
	b  []byte
	ok bool
}

func (w *jsonWriter) raw(s string) { w.b = append(w.b, s...) }

func (w *jsonWriter) str(s string) {
	if !plainString(s) {
		w.ok = false
		return
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, s...)
	w.b = append(w.b, '"')
}

// time writes t as time.Time.MarshalJSON does, for times in UTC within years 0 to 9999
// (outside them MarshalJSON fails).
func (w *jsonWriter) time(t time.Time) {
	if t.Location() != time.UTC || t.Year() < 0 || t.Year() > 9999 {
		w.ok = false
		return
	}
	w.b = append(w.b, '"')
	w.b = t.AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
}

// appendLastLogin writes d as json.Marshal does: fields in declaration order, omitempty
// ones left out when empty, a nil previous_login_at as null.
func appendLastLogin(b []byte, d *LastLoginRecorded) ([]byte, bool) {
	w := jsonWriter{b: b, ok: true}
	w.raw(`{"user_uuid":`)
	w.str(d.UserUUID)
	if d.Username != "" {
		w.raw(`,"username":`)
		w.str(d.Username)
	}
	w.raw(`,"last_login_at":`)
	w.time(d.LastLoginAt)
	w.raw(`,"previous_login_at":`)
	if d.PreviousLoginAt == nil {
		w.raw("null")
	} else {
		w.time(*d.PreviousLoginAt)
	}
	if d.LocationUUID != "" {
		w.raw(`,"location_uuid":`)
		w.str(d.LocationUUID)
	}
	w.raw("}")
	return w.b, w.ok
}

// appendLoginFailed writes d as json.Marshal does.
func appendLoginFailed(b []byte, d *LoginFailed) ([]byte, bool) {
	w := jsonWriter{b: b, ok: true}
	w.raw(`{"username":`)
	w.str(d.Username)
	if d.UserUUID != "" {
		w.raw(`,"user_uuid":`)
		w.str(d.UserUUID)
	}
	w.raw(`,"occurred_at":`)
	w.time(d.OccurredAt)
	w.raw(`,"method":`)
	w.str(d.Method)
	if d.ClientIP != "" {
		w.raw(`,"client_ip":`)
		w.str(d.ClientIP)
	}
	w.raw("}")
	return w.b, w.ok
}
