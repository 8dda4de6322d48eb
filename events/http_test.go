package events

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

const limit = 64 << 10

func request(t testing.TB, h http.Header, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/events", bytes.NewReader(body))
	for k, v := range h {
		r.Header[k] = v
	}
	return r
}

// sdkSendTo sends e with the SDK's HTTP client to a server that runs FromHTTP.
func sdkSendTo(t *testing.T, e cloudevents.Event, structured bool) []cloudevents.Event {
	t.Helper()
	var got []cloudevents.Event
	var gotErr error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotErr = FromHTTP(r, limit)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	c, err := cloudevents.NewClientHTTP(cehttp.WithTarget(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if structured {
		ctx = binding.WithForceStructured(ctx)
	}
	if res := c.Send(ctx, e); !cloudevents.IsACK(res) {
		t.Fatalf("SDK send: %v", res)
	}
	if gotErr != nil {
		t.Fatalf("FromHTTP: %v", gotErr)
	}
	return got
}

func TestSDKHTTPClientDecodesWithFromHTTP(t *testing.T) {
	for _, mode := range []struct {
		name       string
		structured bool
	}{{"binary", false}, {"structured", true}} {
		t.Run(mode.name, func(t *testing.T) {
			want := sampleCloudEvent(t, TypeUserSession)
			got := sdkSendTo(t, want, mode.structured)
			if len(got) != 1 {
				t.Fatalf("got %d events", len(got))
			}
			assertSameEvent(t, want, got[0])
			if _, err := Decode(got[0]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOurHTTPEncodingsDecodeWithTheSDK(t *testing.T) {
	want := sampleCloudEvent(t, TypeLoginFailed)
	h, body, err := ToHTTP(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := binding.ToEvent(context.Background(), cehttp.NewMessageFromHttpRequest(request(t, h, body)))
	if err != nil {
		t.Fatalf("SDK reading ToHTTP: %v", err)
	}
	assertSameEvent(t, want, *got)

	batch, ct, err := ToHTTPBatch([]cloudevents.Event{want, sampleCloudEvent(t, TypeClockTick)})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := cehttp.NewEventsFromHTTPRequest(request(t, http.Header{"Content-Type": {ct}}, batch))
	if err != nil || len(evs) != 2 {
		t.Fatalf("SDK reading ToHTTPBatch: %d events, %v", len(evs), err)
	}
	assertSameEvent(t, want, evs[0])
}

func TestFromHTTPRules(t *testing.T) {
	e := sampleCloudEvent(t, TypeUserSession)
	h, body, _ := ToHTTP(e)
	structured, _ := e.MarshalJSON()
	batch, _, _ := ToHTTPBatch([]cloudevents.Event{e, sampleCloudEvent(t, TypeClockTick)})
	brokenBatch := []byte("[" + string(structured) + `,{"specversion":"1.0","source":"/x","type":"t"}]`)
	cases := []struct {
		rule   string
		h      http.Header
		body   []byte
		n      int
		reason string
	}{
		{"binary mode reads Ce- headers", h, body, 1, ""},
		{"structured mode reads the JSON format", http.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}}, structured, 1, ""},
		{"batch mode reads every event", http.Header{"Content-Type": {ContentTypeBatch}}, batch, 2, ""},
		{"an empty batch is no events", http.Header{"Content-Type": {ContentTypeBatch}}, []byte("[]"), 0, ""},
		{"a batch must be an array", http.Header{"Content-Type": {ContentTypeBatch}}, structured, 0, ReasonMalformed},
		{"plain JSON without Ce- headers is not an event", http.Header{"Content-Type": {"application/json"}}, body, 0, ReasonUnsupportedMode},
		{"a binary event needs an id", func() http.Header { c := h.Clone(); c.Del("Ce-Id"); return c }(), body, 0, ReasonMissingAttribute},
		{"a body over the limit is too large", http.Header{"Content-Type": {ContentTypeStructured}}, bytes.Repeat([]byte(" "), limit+1), 0, ReasonTooLarge},
		{"a refused batch member is missing an attribute", http.Header{"Content-Type": {ContentTypeBatch}}, brokenBatch, 0, ReasonMissingAttribute},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			got, err := FromHTTP(request(t, tc.h, tc.body), limit)
			if ReasonOf(err) != tc.reason {
				t.Fatalf("reason %q (%v), want %q", ReasonOf(err), err, tc.reason)
			}
			if len(got) != tc.n {
				t.Fatalf("got %d events, want %d", len(got), tc.n)
			}
		})
	}
}

func TestFromHTTPTooLargeIsDistinct(t *testing.T) {
	// A chunked body has no Content-Length, so the limit must hold while reading.
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", limit+10)))
	r.ContentLength = -1
	r.Header.Set("Content-Type", ContentTypeStructured)
	_, err := FromHTTP(r, limit)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge, got %v", err)
	}
}

func TestFromHTTPBatchErrorNamesIndexAndField(t *testing.T) {
	good := sampleCloudEvent(t, TypeUserSession)
	s, _ := good.MarshalJSON()
	body := []byte("[" + string(s) + `,{"specversion":"1.0","id":"x","type":"t"}]`)
	_, err := FromHTTP(request(t, http.Header{"Content-Type": {ContentTypeBatch}}, body), limit)
	var be *BatchError
	if !errors.As(err, &be) || be.Index != 1 || !strings.Contains(err.Error(), "source") {
		t.Fatalf("want BatchError at index 1 naming source, got %v", err)
	}
}
