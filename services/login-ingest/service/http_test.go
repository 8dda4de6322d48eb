package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
)

// intakeServer serves the HTTP intake of in.
func intakeServer(t *testing.T, in *Ingest) string {
	mux := http.NewServeMux()
	in.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1/events"
}

// request is one call to the intake.
type request struct {
	token  string // "" sends no Authorization header
	header http.Header
	body   []byte
}

func batchOf(t *testing.T, evs ...cloudevents.Event) request {
	body, ct, err := events.ToHTTPBatch(evs)
	if err != nil {
		t.Fatal(err)
	}
	return request{token: tokenA, header: http.Header{"Content-Type": {ct}}, body: body}
}

func post(t *testing.T, url string, rq request) (*http.Response, intakeResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(rq.body))
	for k, vs := range rq.header {
		req.Header[k] = vs
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body intakeResponse
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("answer %s is not JSON: %q", resp.Status, raw)
	}
	return resp, body
}

// TestHTTPIntake: the hook's endpoint accepts CloudEvents in every mode, answers 2xx only
// for events JetStream holds, and refuses what it must with the status that says why.
func TestHTTPIntake(t *testing.T) {
	r := newRig(t, engines[0].dsn(t))
	o := r.options()
	o.MaxBodyBytes = 4096
	in, err := New(r.ctx, r.deps(nil), o)
	if err != nil {
		t.Fatal(err)
	}
	url := intakeServer(t, in)

	binHeader, binBody, err := events.ToHTTP(loginEv(t, siteA, user(1), h(1)))
	if err != nil {
		t.Fatal(err)
	}
	structured, _ := json.Marshal(loginEv(t, siteA, user(2), h(2)))
	bad := batchOf(t, loginEv(t, siteA, user(4), h(4)), loginEv(t, siteA, user(5), h(5)), loginEv(t, siteA, user(6), h(6)))
	bad.body = bytes.ReplaceAll(bad.body, []byte(user(5)), []byte("not-a-uuid"))

	cases := []struct {
		rule     string
		rq       request
		status   int
		accepted int
		check    func(t *testing.T, resp *http.Response, body intakeResponse)
	}{
		{"binary mode is accepted", request{token: tokenA, header: binHeader, body: binBody}, http.StatusAccepted, 1, nil},
		{"structured mode is accepted", request{token: tokenA, header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: structured}, http.StatusAccepted, 1, nil},
		{"batch mode is accepted", batchOf(t, loginEv(t, siteA, user(3), h(3)), loginEv(t, siteA, user(7), h(7))), http.StatusAccepted, 2, nil},
		{"no token is 401", request{header: binHeader, body: binBody}, http.StatusUnauthorized, 0, func(t *testing.T, resp *http.Response, _ intakeResponse) {
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate challenge")
			}
		}},
		{"a wrong token is 401", request{token: tokenA + "x", header: binHeader, body: binBody}, http.StatusUnauthorized, 0, nil},
		{"another site's event is 403", request{token: tokenB, header: binHeader, body: binBody}, http.StatusForbidden, 0, nil},
		{"an oversize body is 413", batchOf(t, manyLogins(t, 20)...), http.StatusRequestEntityTooLarge, 0, nil},
		{"a bad event is 400 naming its index and field; the others are accepted", bad, http.StatusBadRequest, 2, func(t *testing.T, _ *http.Response, body intakeResponse) {
			if len(body.Rejected) != 1 || body.Rejected[0].Index != 1 || body.Rejected[0].Field != "user_uuid" || body.Rejected[0].Reason != events.ReasonInvalidData {
				t.Errorf("rejected = %+v, want index 1, field user_uuid, reason invalid_data", body.Rejected)
			}
		}},
		{"a body that is no event is 400", request{token: tokenA, header: http.Header{"Content-Type": {events.ContentTypeBatch}}, body: []byte(`[{"specversion":"1.0"}]`)}, http.StatusBadRequest, 0, func(t *testing.T, _ *http.Response, body intakeResponse) {
			if len(body.Rejected) != 1 || body.Rejected[0].Index != 0 {
				t.Errorf("rejected = %+v, want event 0 named", body.Rejected)
			}
		}},
	}
	onStream := 0
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			resp, body := post(t, url, c.rq)
			if resp.StatusCode != c.status || body.Accepted != c.accepted {
				t.Fatalf("answer %s accepting %d (%+v), want %d accepting %d", resp.Status, body.Accepted, body, c.status, c.accepted)
			}
			if c.check != nil {
				c.check(t, resp, body)
			}
			onStream += c.accepted
			// What was claimed accepted is on the stream, nothing else.
			if got := len(r.messages(r.ns.StreamAuth(), r.ns.Auth(siteA))); got != onStream {
				t.Errorf("%d events on the auth stream, want %d", got, onStream)
			}
		})
	}
	dead := r.messages(r.ns.StreamDLQ(), r.ns.DLQ("auth"))
	if len(dead) != 1 || dead[0].Headers().Get(natsbus.HeaderDLQReason) != events.ReasonInvalidData {
		t.Errorf("DLQ holds %d, want the one invalid event", len(dead))
	}
}

func manyLogins(t *testing.T, n int) []cloudevents.Event {
	out := make([]cloudevents.Event, n)
	for i := range out {
		out[i] = loginEv(t, siteA, user(100+i), h(i))
	}
	return out
}

// TestHTTPIntakeClaimsNothingJetStreamDidNotAcknowledge: when the stream cannot take the
// events the answer is 429 (backpressure) or 503 (outage) with Retry-After, and says none
// was accepted.
func TestHTTPIntakeClaimsNothingJetStreamDidNotAcknowledge(t *testing.T) {
	cases := []struct {
		rule   string
		break_ func(r *rig, in *Ingest)
		status int
	}{
		{"a full stream is backpressure: 429", func(r *rig, _ *Ingest) {
			st, err := r.js.Stream(r.ctx, r.ns.StreamAuth())
			if err != nil {
				r.t.Fatal(err)
			}
			cfg := st.CachedInfo().Config
			cfg.MaxMsgs, cfg.Discard = 1, jetstream.DiscardNew
			if _, err := r.js.UpdateStream(r.ctx, cfg); err != nil {
				r.t.Fatal(err)
			}
		}, http.StatusTooManyRequests},
		{"a deleted stream is an outage: 503", func(r *rig, _ *Ingest) {
			if err := r.js.DeleteStream(r.ctx, r.ns.StreamAuth()); err != nil {
				r.t.Fatal(err)
			}
		}, http.StatusServiceUnavailable},
		{"an unreachable NATS is an outage: 503", func(r *rig, in *Ingest) { in.js.Conn().Close() }, http.StatusServiceUnavailable},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			r := newRig(t, engines[0].dsn(t))
			in, err := New(r.ctx, r.deps(r.dial()), r.options())
			if err != nil {
				t.Fatal(err)
			}
			url := intakeServer(t, in)
			c.break_(r, in)
			resp, body := post(t, url, batchOf(t, manyLogins(t, 3)...))
			if resp.StatusCode != c.status || body.Accepted != 0 || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("answer %s accepting %d, Retry-After %q; want %d accepting none, with Retry-After", resp.Status, body.Accepted, resp.Header.Get("Retry-After"), c.status)
			}
		})
	}
}

// TestLogsNeverContainTokens: whatever happens to a request (accepted, refused token, failed
// publish), no log line carries the bearer token.
func TestLogsNeverContainTokens(t *testing.T) {
	r := newRig(t, engines[0].dsn(t))
	core, logs := observer.New(zap.DebugLevel)
	d := r.deps(r.dial())
	d.Log = zap.New(core)
	in, err := New(r.ctx, d, r.options())
	if err != nil {
		t.Fatal(err)
	}
	url := intakeServer(t, in)
	good := batchOf(t, loginEv(t, siteA, user(1), h(1)))
	wrong := good
	wrong.token = tokenA + "-but-not-quite"
	for _, rq := range []request{good, wrong} {
		post(t, url, rq)
	}
	in.js.Conn().Close()
	if resp, _ := post(t, url, good); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with NATS closed the intake answered %s", resp.Status)
	}
	if logs.Len() == 0 {
		t.Fatal("nothing was logged: the test would prove nothing")
	}
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, " ", e.LoggerName, " ", e.ContextMap())
		if strings.Contains(line, tokenA) {
			t.Errorf("log line carries the token: %s", line)
		}
	}
}
