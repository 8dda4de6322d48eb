package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// ReplayOptions say where a replay starts and what it covers. Exactly one of FromTime and
// FromSeq is set.
type ReplayOptions struct {
	// FromTime starts at the first event the stream stored at or after it.
	FromTime time.Time
	// FromSeq starts at this stream sequence.
	FromSeq uint64
	// Site limits the replay to one site's subject; "" replays every site.
	Site string
	// Progress, when set, is called after every batch.
	Progress func(ReplayProgress)
}

// ReplayProgress is how far a replay has come.
type ReplayProgress struct {
	Tally
	// Pending is what is left of the stream after the last event handled.
	Pending uint64
	// Elapsed is the time since the replay started.
	Elapsed time.Duration
}

// Rate is the events handled per second so far.
func (p ReplayProgress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Events) / p.Elapsed.Seconds()
}

// replayIdle is how long a replay waits on an empty fetch before it takes the stream as
// read to its end.
const replayIdle = time.Second

// Replay reads the auth stream again from a time or a sequence up to the end it had when the
// replay started, and puts it through the same processing as the live consumer: same
// validation, same store, same record events and dead letters. It is idempotent, and safe
// while login-ingest runs: the store keeps the latest login, and the events it publishes
// carry the ids the first pass gave them, which JetStream drops within its duplicate window
// (consumers of the records handle a later repeat by id, as for any redelivery).
//
// It uses an ordered ephemeral consumer: nothing is acked and the durable consumer of the
// live service is untouched.
func Replay(ctx context.Context, d Deps, opts Options, ro ReplayOptions) (Tally, error) {
	if (ro.FromTime.IsZero()) == (ro.FromSeq == 0) {
		return Tally{}, errors.New("replay: give exactly one of a start time and a start sequence")
	}
	in, err := open(ctx, d, opts)
	if err != nil {
		return Tally{}, err
	}
	defer in.Close()
	subject := in.ns.AuthAll()
	if ro.Site != "" {
		if !in.sites[ro.Site] {
			return Tally{}, fmt.Errorf("replay: site %q is not configured", ro.Site)
		}
		subject = in.ns.Auth(ro.Site)
	}
	stream, err := d.JS.Stream(ctx, in.ns.StreamAuth())
	if err != nil {
		return Tally{}, fmt.Errorf("replay: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return Tally{}, fmt.Errorf("replay: %w", err)
	}
	// The end is fixed now: events that arrive during the replay are the live consumer's.
	end := info.State.LastSeq
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}}
	if ro.FromSeq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, ro.FromSeq
	} else {
		t := ro.FromTime
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return Tally{}, fmt.Errorf("replay: %w", err)
	}
	in.log.Info("replaying authentication events", zap.String("subject", subject), zap.Uint64("from_seq", ro.FromSeq),
		zap.Time("from_time", ro.FromTime), zap.Uint64("to_seq", end))

	var total Tally
	start := time.Now()
	if ro.FromSeq > end {
		return total, nil
	}
	for {
		b, err := cons.Fetch(in.opts.BatchSize, jetstream.FetchMaxWait(replayIdle))
		if err != nil {
			return total, fmt.Errorf("replay: fetch: %w", err)
		}
		msgs := make([]jetstream.Msg, 0, in.opts.BatchSize)
		done, pending := false, uint64(0)
		for m := range b.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return total, fmt.Errorf("replay: %w", err)
			}
			if md.Sequence.Stream > end {
				done = true
				continue
			}
			msgs = append(msgs, m)
			pending = md.NumPending
			if md.Sequence.Stream == end || md.NumPending == 0 {
				done = true
			}
		}
		if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return total, fmt.Errorf("replay: fetch: %w", err)
		}
		if len(msgs) == 0 {
			// An empty wait: nothing of this subject is left before the end.
			return total, ctx.Err()
		}
		t, err := in.process(ctx, msgs)
		if err != nil {
			return total, fmt.Errorf("replay: %w", err)
		}
		total.add(t)
		if ro.Progress != nil {
			ro.Progress(ReplayProgress{Tally: total, Pending: pending, Elapsed: time.Since(start)})
		}
		if done || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// Tally's events by destination, for the operator's final line.
func (t Tally) String() string {
	return fmt.Sprintf("%d events: %d logins (%d last-login records published), %d failed logins, %d logouts, %d dead letters",
		t.Events, t.Logins, t.Records, t.Failed, t.Logouts, t.DeadLetters)
}
