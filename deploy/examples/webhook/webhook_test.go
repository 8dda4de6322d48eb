package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/dormant-dev/dormant/deploy/examples/consumer"
	"github.com/dormant-dev/dormant/deploy/examples/webhook"
	"github.com/dormant-dev/dormant/events"
)

var secret = []byte("0123456789abcdef-shared")

// receiver verifies every delivery as a real receiver would, answering the statuses queued
// in fail first.
type receiver struct {
	mu       sync.Mutex
	fail     []int
	accepted []cloudevents.Event
	refused  []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.fail) > 0 {
		st := rc.fail[0]
		rc.fail = rc.fail[1:]
		w.WriteHeader(st)
		return
	}
	if err := webhook.Verify(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		rc.refused = append(rc.refused, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev cloudevents.Event
	if err := json.Unmarshal(body, &ev); err != nil || r.Header.Get(webhook.HeaderEventID) != ev.ID() {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.accepted = append(rc.accepted, ev)
	w.WriteHeader(http.StatusNoContent)
}

func deactivated(t *testing.T) cloudevents.Event {
	t.Helper()
	ev, err := events.New(events.SourceFor("actuator", "clinic-a"), "clinic-a",
		&events.UserDeactivated{DecisionID: "d1", UserUUID: "4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", Username: "nurse1", Reason: "no login for 90 days", RetiredAt: time.Date(2026, 5, 2, 7, 0, 0, 0, time.UTC)},
		events.DerivedID("deactivated", "d1"), time.Date(2026, 5, 2, 7, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestForward(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fail      []int
		secret    []byte
		now       func() time.Time
		wantOK    bool
		permanent bool
	}{
		{name: "a signed delivery is accepted", wantOK: true},
		{name: "5xx and 429 are retried", fail: []int{503, 429}, wantOK: true},
		{name: "retries run out on 5xx", fail: []int{500, 500, 500, 500}},
		{name: "a 400 is not retried", fail: []int{400}, permanent: true},
		{name: "a wrong secret is refused by the receiver", secret: []byte("another-secret-of-16"), permanent: true},
		{name: "an old timestamp is refused as a replay", now: func() time.Time { return time.Now().Add(-time.Hour) }, permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &receiver{fail: tc.fail}
			srv := httptest.NewServer(rc)
			t.Cleanup(srv.Close)
			s := tc.secret
			if s == nil {
				s = secret
			}
			f, err := webhook.New(webhook.Config{URL: srv.URL, Secret: s, Backoff: time.Millisecond, Now: tc.now})
			if err != nil {
				t.Fatal(err)
			}
			ev := deactivated(t)
			err = f.Forward(context.Background(), ev)
			if (err == nil) != tc.wantOK || consumer.IsPermanent(err) != tc.permanent {
				t.Fatalf("Forward = %v (permanent %v), want ok=%v permanent=%v", err, consumer.IsPermanent(err), tc.wantOK, tc.permanent)
			}
			if tc.wantOK {
				got, err := events.DecodeAs[*events.UserDeactivated](rc.accepted[0])
				if len(rc.accepted) != 1 || err != nil || got.Username != "nurse1" || rc.accepted[0].ID() != ev.ID() {
					t.Fatalf("receiver got %v (%v)", rc.accepted, err)
				}
			}
		})
	}
}

func TestVerifyRefusesTampering(t *testing.T) {
	body := []byte(`{"id":"x"}`)
	now := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	h.Set(webhook.HeaderTimestamp, "1800000000")
	h.Set(webhook.HeaderSignature, webhook.Sign(secret, now.Unix(), body))
	if err := webhook.Verify(secret, h, body, now, time.Minute); err != nil {
		t.Fatalf("a good delivery: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(h http.Header, b []byte) []byte
	}{
		{"body changed", func(h http.Header, b []byte) []byte { return []byte(`{"id":"y"}`) }},
		{"timestamp moved to pass the window", func(h http.Header, b []byte) []byte { h.Set(webhook.HeaderTimestamp, "1800000030"); return b }},
		{"signature missing", func(h http.Header, b []byte) []byte { h.Del(webhook.HeaderSignature); return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hh := h.Clone()
			b := tc.mod(hh, body)
			if err := webhook.Verify(secret, hh, b, now, time.Minute); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if err := webhook.Verify(secret, h, body, now.Add(2*time.Minute), time.Minute); err == nil {
		t.Fatal("a stale delivery was accepted")
	}
}
