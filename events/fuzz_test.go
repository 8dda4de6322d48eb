package events

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
)

// parseHeaderLines decodes headers as "name: value" lines so the fuzzer can mutate them.
func parseHeaderLines(b []byte) map[string][]string {
	h := map[string][]string{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(": "))
		if ok {
			h[string(k)] = append(h[string(k)], string(v))
		}
	}
	return h
}

// FuzzFromNATS: no header set or body makes the decoder panic, and what it accepts, Decode
// either accepts or refuses with a reason.
func FuzzFromNATS(f *testing.F) {
	f.Add([]byte("ce-specversion: 1.0\nce-id: 1\nce-source: /x\nce-type: dormant.clock.tick\ncontent-type: application/json"), []byte(`{"at":"2026-11-23T04:00:00Z","period":"PT1H"}`))
	f.Fuzz(func(t *testing.T, headers, body []byte) {
		e, err := FromNATS(nats.Header(parseHeaderLines(headers)), body)
		if err != nil {
			if ReasonOf(err) == ReasonOther {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if _, err := Decode(e); err != nil && ReasonOf(err) == ReasonOther {
			t.Fatalf("decode error without a reason: %v", err)
		}
	})
}

func FuzzFromHTTP(f *testing.F) {
	f.Add([]byte("Content-Type: application/cloudevents-batch+json"), []byte(`[{"specversion":"1.0","id":"1","source":"/x","type":"dormant.clock.tick","data":{"at":"2026-11-23T04:00:00Z","period":"PT1H"}}]`))
	f.Fuzz(func(t *testing.T, headers, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		for k, vs := range parseHeaderLines(headers) {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
		evs, err := FromHTTP(r, 1<<16)
		if err != nil {
			if ReasonOf(err) == ReasonOther {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		for _, e := range evs {
			_, _ = Decode(e)
		}
	})
}

// FuzzDecode feeds arbitrary data under every registered type.
func FuzzDecode(f *testing.F) {
	f.Add("dormant.clock.tick", "", []byte(`{"at":"2026-11-23T04:00:00Z","period":"PT1H"}`))
	f.Fuzz(func(t *testing.T, typ, site string, data []byte) {
		e := cloudevents.NewEvent()
		e.SetID("x")
		e.SetSource("/x")
		e.SetType(typ)
		if site != "" {
			e.SetExtension(ExtSite, site)
		}
		e.DataEncoded = data
		d, err := Decode(e)
		if err != nil {
			if ReasonOf(err) == ReasonOther {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		// Whatever decodes must be valid and re-encodable into an event.
		if err := d.Validate(); err != nil {
			t.Fatalf("decoded data fails Validate: %v", err)
		}
		// Consumers tolerate a stray site on the global tick; publishers may not send one.
		if !PerSite(typ) {
			site = ""
		}
		if _, err := New("/x", site, d, "x", t0); err != nil {
			t.Fatalf("decoded data does not build: %v", err)
		}
	})
}
