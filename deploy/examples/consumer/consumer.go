// Package consumer is the part every example shares: a durable JetStream consumer of
// dormant.user.deactivated events (<root>.actions.*.deactivated), decoded with dormant's
// events package, handed to a Handler one at a time, acknowledged when handled, redelivered
// with backoff when the handler asks for a retry, and let go (with a log line) when the
// event cannot be decoded, the handler says the failure is permanent, or the retries run out.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/events"
)

// Handler does what the example does for one deactivation. A nil error acknowledges the
// event; an error wrapped with Permanent is logged and acknowledged; any other error is
// retried by redelivery.
type Handler func(ctx context.Context, ev cloudevents.Event, d *events.UserDeactivated) error

// permanent marks an error that a retry cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying (a 4xx answer other than 429, say).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// Config configures Run.
type Config struct {
	JS jetstream.JetStream
	// Root is dormant's subject root ("dormant" unless DORMANT_SUBJECT_ROOT says otherwise).
	Root string
	// Durable names the consumer; each example (and each deployment of it) needs its own.
	Durable string
	// AckWait is how long a delivery may take before JetStream redelivers it (default 1m).
	AckWait time.Duration
	// MaxAttempts is how many deliveries an event gets before it is let go (default 10).
	MaxAttempts int
	// Backoff is the first redelivery delay (default 5s); it doubles per attempt up to
	// MaxBackoff (default 5m), with jitter.
	Backoff, MaxBackoff time.Duration
	Log                 *slog.Logger
}

func (c *Config) fill() error {
	if c.JS == nil || c.Durable == "" {
		return errors.New("consumer: JS and Durable are required")
	}
	if c.Root == "" {
		c.Root = "dormant"
	}
	if c.AckWait <= 0 {
		c.AckWait = time.Minute
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Backoff <= 0 {
		c.Backoff = 5 * time.Second
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = max(5*time.Minute, c.Backoff)
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

// Run creates (or updates) the durable consumer and handles events until ctx ends.
func Run(ctx context.Context, cfg Config, h Handler) error {
	if err := cfg.fill(); err != nil {
		return err
	}
	ns := events.Namespace{Root: cfg.Root}
	cons, err := cfg.JS.CreateOrUpdateConsumer(ctx, ns.StreamActions(), jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "example: reacts to dormant.user.deactivated",
		FilterSubject: ns.Deactivated("*"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: 1, // one at a time, in order
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1, // Run lets events go itself, with a log line
	})
	if err != nil {
		return fmt.Errorf("create consumer %s: %w", cfg.Durable, err)
	}
	for {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			cfg.Log.Warn("fetch failed; trying again", "err", err)
			if sleep(ctx, time.Second) != nil {
				return nil
			}
			continue
		}
		for m := range batch.Messages() {
			handle(ctx, cfg, h, m)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func handle(ctx context.Context, cfg Config, h Handler, m jetstream.Msg) {
	attempt := 1
	if md, err := m.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	ev, err := events.FromNATS(m.Headers(), m.Data())
	var d *events.UserDeactivated
	if err == nil {
		d, err = events.DecodeAs[*events.UserDeactivated](ev)
	}
	if err != nil {
		cfg.Log.Error("cannot decode the event; letting it go", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	log := cfg.Log.With("event", ev.ID(), "site", events.Site(ev), "username", d.Username, "attempt", attempt)
	err = h(ctx, ev, d)
	switch {
	case err == nil:
		_ = m.Ack()
	case ctx.Err() != nil:
		_ = m.Nak() // shutting down: the next run takes it again
	case IsPermanent(err):
		log.Error("failed for good; acknowledged", "err", err)
		_ = m.Ack()
	case attempt >= cfg.MaxAttempts:
		log.Error("giving up after the last attempt", "err", err)
		_ = m.Term()
	default:
		d := cfg.Backoff << min(attempt-1, 16)
		d = min(d, cfg.MaxBackoff)
		d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
		log.Warn("failed; will retry", "in", d, "err", err)
		_ = m.NakWithDelay(d)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
