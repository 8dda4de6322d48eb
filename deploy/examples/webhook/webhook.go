// Package webhook forwards dormant's events to an HTTP endpoint, signed so the receiver can
// tell they came from this forwarder and were not replayed.
//
// Each event is POSTed as a structured CloudEvent (Content-Type
// application/cloudevents+json) with these headers:
//
//	X-Dormant-Event-Id:  the event id (the same on every retry: deduplicate on it)
//	X-Dormant-Timestamp: Unix seconds when this attempt was signed
//	X-Dormant-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>
//
// The receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares in
// constant time, and refuses timestamps older than its tolerance (Verify does all three).
// Signing the timestamp with the body stops an old delivery from being replayed later.
// A 2xx answer is success; 5xx, 429 and network errors are retried; other 4xx are not.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/dormant-dev/dormant/deploy/examples/consumer"
	"github.com/dormant-dev/dormant/events"
)

// Header names.
const (
	HeaderSignature = "X-Dormant-Signature"
	HeaderTimestamp = "X-Dormant-Timestamp"
	HeaderEventID   = "X-Dormant-Event-Id"
)

// Sign returns the signature header value of body at timestamp ts (Unix seconds).
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's signature and timestamp headers against its raw body: the
// signature must match and the timestamp be within tolerance of now (either side).
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return errors.New("webhook: missing or malformed " + HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: timestamp %d is outside the %s tolerance (a replay?)", ts, tolerance)
	}
	got := h.Get(HeaderSignature)
	if !strings.HasPrefix(got, "sha256=") {
		return errors.New("webhook: missing or malformed " + HeaderSignature)
	}
	if !hmac.Equal([]byte(got), []byte(Sign(secret, ts, body))) {
		return errors.New("webhook: signature does not match")
	}
	return nil
}

// Config configures a Forwarder.
type Config struct {
	URL    string
	Secret []byte
	// Retries within one delivery on 5xx, 429 and network errors (default 3), from Backoff
	// (default 500ms) doubling, with jitter; after that the event is redelivered by the
	// consumer with its own backoff.
	Retries int
	Backoff time.Duration
	// HTTPClient defaults to a client with a 10s timeout.
	HTTPClient *http.Client
	Now        func() time.Time
}

// Forwarder posts events to one URL.
type Forwarder struct{ cfg Config }

// New validates cfg.
func New(cfg Config) (*Forwarder, error) {
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("webhook: URL %q must be http(s)", cfg.URL)
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("webhook: the secret must be at least 16 bytes")
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Forwarder{cfg: cfg}, nil
}

// StatusError is a non-2xx answer of the receiver.
type StatusError struct{ Status int }

func (e *StatusError) Error() string { return fmt.Sprintf("webhook: receiver answered %d", e.Status) }

func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status >= 500 || se.Status == http.StatusTooManyRequests
	}
	return err != nil && !errors.Is(err, context.Canceled)
}

// Forward posts one event, retrying; a 4xx other than 429 is returned wrapped with
// consumer.Permanent.
func (f *Forwarder) Forward(ctx context.Context, ev cloudevents.Event) error {
	body, err := json.Marshal(ev) // the CloudEvents JSON format (structured mode)
	if err != nil {
		return consumer.Permanent(fmt.Errorf("webhook: encode event %s: %w", ev.ID(), err))
	}
	for attempt := 0; ; attempt++ {
		err = f.post(ctx, ev.ID(), body)
		if err == nil {
			return nil
		}
		if !retryable(err) {
			return consumer.Permanent(err)
		}
		if attempt >= f.cfg.Retries || ctx.Err() != nil {
			return err
		}
		d := f.cfg.Backoff << attempt
		d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

func (f *Forwarder) post(ctx context.Context, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return consumer.Permanent(err)
	}
	ts := f.cfg.Now().Unix() // signed per attempt, so a slow retry is not refused as stale
	req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	req.Header.Set(HeaderEventID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(f.cfg.Secret, ts, body))
	resp, err := f.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: post %s: %w", id, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return &StatusError{Status: resp.StatusCode}
	}
	return nil
}

// Handler is the consumer.Handler that forwards each deactivation.
func (f *Forwarder) Handler(log *slog.Logger) consumer.Handler {
	return func(ctx context.Context, ev cloudevents.Event, d *events.UserDeactivated) error {
		if err := f.Forward(ctx, ev); err != nil {
			return err
		}
		log.Info("event forwarded", "event", ev.ID(), "site", events.Site(ev), "username", d.Username)
		return nil
	}
}
