package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
)

// sdkSession is the SDK path the fast one must equal: FromNATS, then Decode.
func sdkSession(h nats.Header, data []byte) (SessionEvent, error) {
	e, err := FromNATS(h, data)
	if err != nil {
		return SessionEvent{}, err
	}
	d, err := Decode(e)
	if err != nil {
		return SessionEvent{}, err
	}
	s, ok := d.(*UserSession)
	if !ok {
		return SessionEvent{}, fmt.Errorf("type %s is not a session", e.Type())
	}
	return SessionEvent{ID: e.ID(), Site: Site(e), Data: *s}, nil
}

// sameSession compares two results field by field; times must be the same instant written
// the same way (zone offset included), since the consumer re-encodes occurred_at.
func sameSession(a, b SessionEvent) error {
	ja, _ := json.Marshal(a.Data)
	jb, _ := json.Marshal(b.Data)
	switch {
	case a.ID != b.ID:
		return fmt.Errorf("id %q != %q", a.ID, b.ID)
	case a.Site != b.Site:
		return fmt.Errorf("site %q != %q", a.Site, b.Site)
	case !a.Data.OccurredAt.Equal(b.Data.OccurredAt) || string(ja) != string(jb):
		return fmt.Errorf("data %s != %s", ja, jb)
	}
	a.Data.OccurredAt, b.Data.OccurredAt = t0, t0
	if a.Data != b.Data {
		return fmt.Errorf("data %+v != %+v", a.Data, b.Data)
	}
	return nil
}

// sessionHeaders are the headers ToNATS writes for a user session at clinic-a.
func sessionHeaders(t testing.TB) nats.Header {
	t.Helper()
	msg, err := ToNATS("dormant.auth.clinic-a", sampleCloudEvent(t, TypeUserSession))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header
}

const goodSession = `{"event":"login","status":"success","user_uuid":"0d7c1a43-6b0c-4d1c-9a3e-2f1b6c7d8e9f","username":"nurse.jane","occurred_at":"2026-11-23T04:00:00Z","method":"form"}`

func edited(h nats.Header, edit func(nats.Header)) nats.Header {
	c := maps.Clone(h)
	edit(c)
	return c
}

func TestFastUserSessionEqualsTheSDK(t *testing.T) {
	base := sessionHeaders(t)
	// The SDK's NATS binding: ce-datacontenttype, no content-type, no Nats-Msg-Id.
	sdk := nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"sdk-1"}, "ce-source": {"http://emr.example.org/openmrs"},
		"ce-type": {TypeUserSession}, "ce-site": {"clinic-a"}, "ce-time": {"2026-11-23T04:00:00.123456789+02:00"},
		"ce-datacontenttype": {"application/json"}}
	cases := []struct {
		name string
		h    nats.Header
		data string
	}{
		{"what ToNATS writes", base, goodSession},
		{"what the SDK's binding writes", sdk, goodSession},
		{"every field set", base, `{"event":"login","status":"success","user_uuid":"0d7c1a43-6b0c-4d1c-9a3e-2f1b6c7d8e9f","username":"nurse.jane","system_id":"3-4","occurred_at":"2026-11-23T04:00:00.5+01:00","method":"basic","location_uuid":"5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716","client_ip":"2001:db8::1"}`},
		{"a failure without a uuid", base, `{"event":"login","status":"failure","username":"nurse.jane","occurred_at":"2026-11-23T04:00:00Z","method":"basic","client_ip":"10.0.0.7"}`},
		{"a logout", base, `{"event":"logout","status":"success","user_uuid":"0d7c1a43-6b0c-4d1c-9a3e-2f1b6c7d8e9f","username":"nurse.jane","occurred_at":"2026-11-23T04:00:00Z","method":"other"}`},
		{"whitespace everywhere", base, " \n{ \"event\" : \"login\" ,\t\"status\":\"success\",\r\n\"user_uuid\":\"0d7c1a43-6b0c-4d1c-9a3e-2f1b6c7d8e9f\", \"username\":\"nurse.jane\",\"occurred_at\":\"2026-11-23T04:00:00Z\",\"method\":\"form\" } \n"},
		{"unicode whitespace around the data (bytes.TrimSpace)", base, "\u00a0" + goodSession + "\u0085"},
		{"unknown fields of every kind are skipped", base, `{"hook_version":"2.1","n":-1.5e3,"ok":true,"no":false,"nothing":null,"obj":{"a":[1,{"b":"}"}],"c":"]"},"arr":[[],{}],` + goodSession[1:]},
		{"an unknown field last", base, goodSession[:len(goodSession)-1] + `,"extra":{"x":[1,2]}}`},
		{"null leaves a field as it was", base, `{"event":"login","status":"success","user_uuid":"0d7c1a43-6b0c-4d1c-9a3e-2f1b6c7d8e9f","username":"nurse.jane","occurred_at":"2026-11-23T04:00:00Z","method":"form","location_uuid":null,"client_ip":null,"occurred_at":null,"username":null}`},
		{"the last of duplicate fields wins", base, `{"username":"first","occurred_at":"2020-01-01T00:00:00Z",` + goodSession[1:]},
		{"a non-ASCII username", base, strings.Replace(goodSession, "nurse.jane", "infirmière.zoë", 1)},
		{"no content type at all (JSON by the spec)", edited(base, func(h nats.Header) { delete(h, "content-type") }), goodSession},
		{"an empty content-type falls back to ce-datacontenttype", edited(base, func(h nats.Header) {
			h["content-type"] = []string{""}
			h["ce-datacontenttype"] = []string{"application/json"}
		}), goodSession},
		{"no time, subject, dataschema or traceparent", edited(base, func(h nats.Header) {
			delete(h, "ce-time")
			delete(h, "ce-subject")
			delete(h, "ce-dataschema")
			delete(h, "ce-traceparent")
		}), goodSession},
		{"a blank subject (the SDK drops it)", edited(base, func(h nats.Header) { h["ce-subject"] = []string{"  "} }), goodSession},
		{"an empty header list is skipped", edited(base, func(h nats.Header) { h["ce-bogus"] = []string{} }), goodSession},
		{"other NATS headers are ignored", edited(base, func(h nats.Header) {
			h["Nats-Expected-Stream"] = []string{"X"}
			h["traceparent"] = []string{"whatever"}
		}), goodSession},
		{"only the first value of a header counts", edited(base, func(h nats.Header) { h["ce-id"] = []string{"first", "second"} }), goodSession},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, err := sdkSession(c.h, []byte(c.data))
			if err != nil {
				t.Fatalf("the SDK path refuses the case itself: %v", err)
			}
			got, ok := FastUserSession(c.h, []byte(c.data))
			if !ok {
				t.Fatal("the fast path left a common message to the SDK")
			}
			if err := sameSession(want, got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFastUserSessionLeavesTheRestToTheSDK: whatever the fast path does not take goes to the
// SDK path, which gives the error (and so the dead-letter reason and field) it always gave,
// or reads the rarer shapes it accepts.
func TestFastUserSessionLeavesTheRestToTheSDK(t *testing.T) {
	base := sessionHeaders(t)
	h := func(edit func(nats.Header)) nats.Header { return edited(base, edit) }
	set := func(k, v string) func(nats.Header) { return func(h nats.Header) { h[k] = []string{v} } }
	del := func(k string) func(nats.Header) { return func(h nats.Header) { delete(h, k) } }
	data := func(old, new string) string { return strings.Replace(goodSession, old, new, 1) }
	cases := []struct {
		name string
		h    nats.Header
		data string
		// sdk is the SDK path's answer: "" when it accepts, else the reason it refuses with.
		sdk   string
		field string
	}{
		{"structured mode", nats.Header{"content-type": {ContentTypeStructured}}, `{"specversion":"1.0","id":"1","source":"/x","type":"org.openmrs.user.session","site":"clinic-a","data":` + goodSession + `}`, "", ""},
		{"another type", h(set("ce-type", TypeClockTick)), `{"at":"2026-11-23T04:00:00Z","period":"PT1H"}`, ReasonOther, ""}, // a tick: the consumer's unexpected_type
		{"an unknown type", h(set("ce-type", "org.example.other")), goodSession, ReasonUnknownType, ""},
		{"a type the SDK trims", h(set("ce-type", " "+TypeUserSession)), goodSession, "", ""},
		{"no ce-type", h(del("ce-type")), goodSession, ReasonMissingAttribute, ""},
		{"no specversion", h(del("ce-specversion")), goodSession, ReasonMissingAttribute, ""},
		{"specversion 0.3", h(set("ce-specversion", "0.3")), goodSession, ReasonUnsupportedMode, ""},
		{"no id", h(del("ce-id")), goodSession, ReasonMissingAttribute, ""},
		{"a blank id", h(set("ce-id", "   ")), goodSession, ReasonMalformed, ""},
		{"an id the SDK trims", h(set("ce-id", " id-1\t")), goodSession, "", ""},
		{"no source", h(del("ce-source")), goodSession, ReasonMissingAttribute, ""},
		{"a source url.Parse refuses", h(set("ce-source", "%zz")), goodSession, ReasonMalformed, ""},
		{"a bad time", h(set("ce-time", "yesterday")), goodSession, ReasonMalformed, ""},
		{"another dataschema", h(set("ce-dataschema", "https://example.org/s.json")), goodSession, "", ""},
		{"a dataschema that is not absolute", h(set("ce-dataschema", "s.json")), goodSession, ReasonMalformed, ""},
		{"an unknown extension", h(set("ce-region", "north")), goodSession, "", ""},
		{"an extension name the SDK refuses", h(set("ce-bad_name", "x")), goodSession, ReasonMalformed, ""},
		{"an upper-case ce- header", h(func(h nats.Header) { h["Ce-Id"], h["ce-id"] = h["ce-id"], nil; delete(h, "ce-id") }), goodSession, "", ""},
		{"an upper-case Content-Type", h(func(h nats.Header) { h["Content-Type"] = h["content-type"]; delete(h, "content-type") }), goodSession, "", ""},
		{"a header name outside ASCII (lower-cased to ce-key)", h(set("ce-\u212aey", "v")), goodSession, "", ""},
		{"structured content type with ce- headers", h(set("content-type", ContentTypeStructured)), goodSession, ReasonUnsupportedMode, ""},
		{"a JSON content type with parameters", h(set("content-type", "application/json; charset=utf-8")), goodSession, "", ""},
		{"a content type that is not JSON", h(set("content-type", "text/plain")), goodSession, ReasonUnsupportedMode, ""},
		{"no site", h(del("ce-site")), goodSession, ReasonInvalidSite, ""},
		{"a bad site", h(set("ce-site", "Clinic_A")), goodSession, ReasonInvalidSite, ""},
		{"no data", base, "", ReasonInvalidData, "data"},
		{"data that is not an object", base, `["login"]`, ReasonInvalidData, "data"},
		{"data that is not JSON", base, `{"event":`, ReasonMalformed, ""},
		{"data that is not UTF-8", base, data("nurse.jane", "nurse\xff"), ReasonMalformed, ""},
		{"an escape in a string", base, data("nurse.jane", `nurse\u002ejane`), "", ""},
		{"a NUL in the username", base, data("nurse.jane", `nurse\u0000`), ReasonInvalidData, "username"},
		{"a field of the wrong type", base, data(`"form"`, `7`), ReasonInvalidData, "method"},
		{"a bad occurred_at", base, data("2026-11-23T04:00:00Z", "2026-11-23 04:00"), ReasonInvalidData, ""},
		{"occurred_at of the wrong type", base, data(`"2026-11-23T04:00:00Z"`, `1700000000`), ReasonInvalidData, ""},
		{"a field name in upper case (encoding/json folds it)", base, data(`"username"`, `"USERNAME"`), "", ""},
		{"a field name with the Kelvin sign", base, `{"\u212a":1,` + goodSession[1:], "", ""},
		{"a success without a uuid", base, data(`"user_uuid":"0d7c1a43-6b0c-4d1c-9a3e-2f1b6c7d8e9f",`, ""), ReasonInvalidData, "user_uuid"},
		{"a failure with a uuid", base, data(`"success"`, `"failure"`), ReasonInvalidData, "user_uuid"},
		{"a bad method", base, data(`"form"`, `"carrier-pigeon"`), ReasonInvalidData, "method"},
		{"a bad client_ip", base, data(`"form"`, `"form","client_ip":"10.0.0.300"`), ReasonInvalidData, "client_ip"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := FastUserSession(c.h, []byte(c.data)); ok {
				t.Fatal("the fast path took a message it must leave to the SDK")
			}
			_, err := sdkSession(c.h, []byte(c.data))
			if got := reasonOrEmpty(err); got != c.sdk {
				t.Fatalf("the SDK path answers %q (%v), want %q", got, err, c.sdk)
			}
			var fe *FieldError
			if c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field) {
				t.Fatalf("error %v does not name field %s", err, c.field)
			}
		})
	}
}

func reasonOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return ReasonOf(err)
}

// FuzzFastUserSession is the differential test of the fast path against the SDK path:
// whatever the fast path accepts, the SDK path accepts with an equal result, so the
// consumer (fast path, else SDK path) accepts and refuses exactly what the SDK path alone
// does, with the same errors. The seeds in testdata/fuzz/FuzzFastUserSession are the
// shapes both paths see, good and broken.
//
//	go test -run='^$' -fuzz=FuzzFastUserSession -fuzztime=60s ./events/
func FuzzFastUserSession(f *testing.F) {
	f.Fuzz(func(t *testing.T, headers, body []byte) {
		h := nats.Header(parseHeaderLines(headers))
		got, ok := FastUserSession(h, body)
		if !ok {
			return
		}
		want, err := sdkSession(h, body)
		if err != nil {
			t.Fatalf("the fast path accepted what the SDK path refuses (%v): %+v", err, got)
		}
		if err := sameSession(want, got); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseUserSession holds the data scanner to encoding/json alone, where the fuzzer
// reaches further than through whole messages: what it accepts, json.Valid accepts and
// json.Unmarshal reads into the same UserSession.
//
//	go test -run='^$' -fuzz=FuzzParseUserSession -fuzztime=60s ./events/
func FuzzParseUserSession(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !utf8.Valid(raw) || bytes.IndexByte(raw, '\\') >= 0 {
			return // FastUserSession never calls it on these
		}
		var got UserSession
		if !parseUserSession(raw, &got) {
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("the scanner accepted what json.Valid refuses: %q", raw)
		}
		var want UserSession
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("the scanner accepted what json.Unmarshal refuses (%v): %q", err, raw)
		}
		if err := sameSession(SessionEvent{Data: want}, SessionEvent{Data: got}); err != nil {
			t.Fatalf("%v for %q", err, raw)
		}
	})
}
