package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream is one JetStream stream to provision. Its fields match events.StreamSpec, so the
// contract's list converts with a plain type conversion.
type Stream struct {
	Name     string
	Subjects []string
}

// StreamOptions apply to every provisioned stream.
type StreamOptions struct {
	// Replicas is 1 for a single server, 3 in a cluster.
	Replicas int
	// Duplicates is the window in which JetStream drops a message whose Nats-Msg-Id it has
	// seen. It must cover a crash and restart of a publisher, so that a republished derived
	// event (same id) is dropped.
	Duplicates time.Duration
	// MaxAge bounds how long messages are kept; zero keeps them. The services' own stores
	// hold the state, so the streams need only cover replays an operator may want.
	MaxAge time.Duration
	// StreamMaxAge overrides MaxAge for the streams it names (zero: keep), so the busy
	// streams can be kept for days while the small ones are kept for years.
	StreamMaxAge map[string]time.Duration
}

// DefaultDuplicates covers a consumer's ack wait plus a restart with room to spare.
const DefaultDuplicates = 10 * time.Minute

// Provision creates each stream, or updates it to the given configuration, so that every
// service can call it at start-up in any order.
func Provision(ctx context.Context, js jetstream.JetStream, streams []Stream, opts StreamOptions) error {
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.Duplicates == 0 {
		opts.Duplicates = DefaultDuplicates
	}
	for _, s := range streams {
		if s.Name == "" || len(s.Subjects) == 0 {
			return errors.New("provision stream: name and subjects are required")
		}
		maxAge := opts.MaxAge
		if a, ok := opts.StreamMaxAge[s.Name]; ok {
			maxAge = a
		}
		dup := opts.Duplicates
		if maxAge > 0 && dup > maxAge {
			// JetStream refuses a duplicate window longer than the retention.
			dup = maxAge
		}
		cfg := jetstream.StreamConfig{
			Name:       s.Name,
			Subjects:   s.Subjects,
			Storage:    jetstream.FileStorage,
			Retention:  jetstream.LimitsPolicy,
			Discard:    jetstream.DiscardOld,
			MaxAge:     maxAge,
			Duplicates: dup,
			Replicas:   opts.Replicas,
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("provision stream %s: %w", s.Name, err)
		}
	}
	return nil
}
