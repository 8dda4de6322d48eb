package events

import (
	"errors"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
)

func sampleCloudEvent(t testing.TB, typ string) cloudevents.Event {
	t.Helper()
	d := fullSamples()[typ]
	site, id := sampleEvent(d)
	e, err := New(SourceFor("test", "x"), site, d, id, t0)
	if err != nil {
		t.Fatal(err)
	}
	SetTraceparent(&e, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	return e
}

func TestNATSRoundTripKeepsEveryAttribute(t *testing.T) {
	for _, typ := range Types() {
		e := sampleCloudEvent(t, typ)
		msg, err := ToNATS(DefaultNamespace.SubjectFor(Site(e), fullSamples()[typ]), e)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if msg.Header.Get(HeaderMsgID) != e.ID() || msg.Header.Get("content-type") != "application/json" {
			t.Fatalf("%s: headers %v", typ, msg.Header)
		}
		if _, ok := msg.Header["ce-specversion"]; !ok {
			t.Fatalf("%s: ce- headers must be lower case, got %v", typ, msg.Header)
		}
		back, err := FromNATS(msg.Header, msg.Data)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		assertSameEvent(t, e, back)
		if _, err := Decode(back); err != nil {
			t.Fatalf("%s: decode: %v", typ, err)
		}
	}
}

func assertSameEvent(t testing.TB, want, got cloudevents.Event) {
	t.Helper()
	pairs := [][3]string{
		{"id", want.ID(), got.ID()},
		{"source", want.Source(), got.Source()},
		{"type", want.Type(), got.Type()},
		{"subject", want.Subject(), got.Subject()},
		{"dataschema", want.DataSchema(), got.DataSchema()},
		{"datacontenttype", want.DataContentType(), got.DataContentType()},
		{"site", Site(want), Site(got)},
		{"traceparent", Traceparent(want), Traceparent(got)},
		{"data", string(want.Data()), string(got.Data())},
	}
	for _, p := range pairs {
		if p[1] != p[2] {
			t.Errorf("%s: got %q, want %q", p[0], p[2], p[1])
		}
	}
	if !want.Time().Equal(got.Time()) {
		t.Errorf("time: got %v, want %v", got.Time(), want.Time())
	}
}

func TestFromNATSModes(t *testing.T) {
	e := sampleCloudEvent(t, TypeUserSession)
	structured, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	binary, err := ToNATS("x", e)
	if err != nil {
		t.Fatal(err)
	}
	sdkStyle := nats.Header{}
	for k, v := range binary.Header {
		if k != "content-type" {
			sdkStyle[k] = v
		}
	}
	sdkStyle["ce-datacontenttype"] = []string{"application/json"}
	canonical := nats.Header{}
	for k, v := range binary.Header {
		canonical[http2Canonical(k)] = v
	}
	cases := []struct {
		rule   string
		h      nats.Header
		body   []byte
		reason string
	}{
		{"binary with content-type is accepted", binary.Header, binary.Data, ""},
		{"binary with ce-datacontenttype as the SDK writes it is accepted", sdkStyle, binary.Data, ""},
		{"header names are matched without regard to case", canonical, binary.Data, ""},
		{"structured with its content type is accepted", nats.Header{"content-type": {"application/cloudevents+json; charset=utf-8"}}, structured, ""},
		{"structured without any header is recognised by specversion", nil, structured, ""},
		{"a body without specversion and no ce- headers is not an event", nil, []byte(`{"a":1}`), ReasonUnsupportedMode},
		{"a batch is not accepted on NATS", nats.Header{"content-type": {ContentTypeBatch}}, []byte("[" + string(structured) + "]"), ReasonUnsupportedMode},
		{"a binary event needs specversion", without(binary.Header, "ce-specversion"), binary.Data, ReasonMissingAttribute},
		{"a binary event needs an id", without(binary.Header, "ce-id"), binary.Data, ReasonMissingAttribute},
		{"a binary event needs a source", without(binary.Header, "ce-source"), binary.Data, ReasonMissingAttribute},
		{"a binary event needs a type", without(binary.Header, "ce-type"), binary.Data, ReasonMissingAttribute},
		{"only specversion 1.0 is read", with(binary.Header, "ce-specversion", "0.3"), binary.Data, ReasonUnsupportedMode},
		{"a broken time is malformed", with(binary.Header, "ce-time", "yesterday"), binary.Data, ReasonMalformed},
		{"broken structured JSON is malformed", nats.Header{"content-type": {ContentTypeStructured}}, []byte(`{"specversion":`), ReasonMalformed},
		{"structured without id is missing an attribute", nats.Header{"content-type": {ContentTypeStructured}}, []byte(`{"specversion":"1.0","source":"/x","type":"t"}`), ReasonMissingAttribute},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			got, err := FromNATS(tc.h, tc.body)
			if ReasonOf(err) != tc.reason {
				t.Fatalf("reason %q (%v), want %q", ReasonOf(err), err, tc.reason)
			}
			if tc.reason == "" {
				assertSameEvent(t, e, got)
			}
		})
	}
}

func http2Canonical(k string) string {
	b := []byte(k)
	up := true
	for i, c := range b {
		if up && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		up = c == '-'
	}
	return string(b)
}

func without(h nats.Header, key string) nats.Header {
	out := nats.Header{}
	for k, v := range h {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func with(h nats.Header, key, value string) nats.Header {
	out := without(h, key)
	out[key] = []string{value}
	return out
}

func TestDecodeRules(t *testing.T) {
	good := sampleCloudEvent(t, TypeUserSession)
	mod := func(f func(e *cloudevents.Event)) cloudevents.Event {
		e := good.Clone()
		f(&e)
		return e
	}
	cases := []struct {
		rule   string
		e      cloudevents.Event
		reason string
		field  string
	}{
		{"a valid event decodes", good, "", ""},
		{"an unknown type is refused", mod(func(e *cloudevents.Event) { e.SetType("org.openmrs.other") }), ReasonUnknownType, ""},
		{"data failing a rule is invalid and names the field", mod(func(e *cloudevents.Event) {
			_ = e.SetData("application/json", map[string]any{"event": "login", "status": "failure", "user_uuid": uuidA, "username": "x", "occurred_at": t0, "method": "form"})
		}), ReasonInvalidData, "user_uuid"},
		{"a wrong JSON type is invalid and names the field", mod(func(e *cloudevents.Event) {
			e.DataEncoded = []byte(`{"event":"login","status":"success","user_uuid":"` + uuidA + `","username":7,"occurred_at":"2026-01-01T00:00:00Z","method":"form"}`)
		}), ReasonInvalidData, "username"},
		{"unknown data fields are tolerated", mod(func(e *cloudevents.Event) {
			e.DataEncoded = []byte(`{"event":"login","status":"success","user_uuid":"` + uuidA + `","username":"x","occurred_at":"2026-01-01T00:00:00Z","method":"form","new_field":{"a":1}}`)
		}), "", ""},
		{"a non-RFC 3339 time is invalid", mod(func(e *cloudevents.Event) {
			e.DataEncoded = []byte(`{"event":"login","status":"success","user_uuid":"` + uuidA + `","username":"x","occurred_at":"2026-11-23T04:00:00.000+0000","method":"form"}`)
		}), ReasonInvalidData, ""},
		{"broken JSON data is malformed", mod(func(e *cloudevents.Event) { e.DataEncoded = []byte(`{"event":`) }), ReasonMalformed, ""},
		{"data that is not an object is invalid", mod(func(e *cloudevents.Event) { e.DataEncoded = []byte(`[1]`) }), ReasonInvalidData, "data"},
		{"missing data is invalid", mod(func(e *cloudevents.Event) { e.DataEncoded = nil }), ReasonInvalidData, "data"},
		{"non-JSON data is unsupported", mod(func(e *cloudevents.Event) { e.SetDataContentType("application/xml") }), ReasonUnsupportedMode, ""},
		{"a per-site event needs the site extension", mod(func(e *cloudevents.Event) { e.SetExtension(ExtSite, nil) }), ReasonInvalidSite, ""},
		{"the site must be a valid token", mod(func(e *cloudevents.Event) { e.SetExtension(ExtSite, "Clinic.A") }), ReasonInvalidSite, ""},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			d, err := Decode(tc.e)
			if ReasonOf(err) != tc.reason {
				t.Fatalf("reason %q (%v), want %q", ReasonOf(err), err, tc.reason)
			}
			if tc.reason == "" {
				if d == nil {
					t.Fatal("no data")
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("not a *DecodeError: %v", err)
			}
			if tc.field != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("field error %v, want field %s", fe, tc.field)
				}
			}
		})
	}
}

func TestDecodeAs(t *testing.T) {
	e := sampleCloudEvent(t, TypeClockTick)
	tick, err := DecodeAs[*ClockTick](e)
	if err != nil || !tick.At.Equal(t0) {
		t.Fatalf("%v %v", tick, err)
	}
	if _, err := DecodeAs[*UserSession](e); ReasonOf(err) != ReasonUnknownType {
		t.Fatalf("want unknown_type, got %v", err)
	}
}

func TestReasonOf(t *testing.T) {
	if ReasonOf(nil) != "" || ReasonOf(errors.New("x")) != ReasonOther {
		t.Fatal("nil or foreign errors")
	}
	wrapped := &BatchError{Index: 2, Err: &DecodeError{Reason: ReasonUnknownType}}
	if ReasonOf(wrapped) != ReasonUnknownType {
		t.Fatal("reason lost through BatchError")
	}
}
