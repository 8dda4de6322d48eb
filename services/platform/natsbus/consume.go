package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BatchHandler processes one fetched batch. It owns the acknowledgement of every message:
// it acks what it has durably handled and naks (or leaves for redelivery) the rest. An error
// means the batch could not be handled at all; the loop naks what is left and backs off.
type BatchHandler func(ctx context.Context, msgs []jetstream.Msg) error

// BatchOptions shape the pull loop.
type BatchOptions struct {
	// Size is the most messages fetched at once.
	Size int
	// MaxWait is how long a fetch waits to fill a batch before handing over what it has.
	MaxWait time.Duration
	// Backoff is the pause after a failed batch before fetching again.
	Backoff time.Duration
	// OnError observes batch failures (for logs and metrics).
	OnError func(error)
}

// ConsumeBatches fetches from cons and hands each batch to h until ctx ends. When ctx ends it
// stops fetching but lets the batch in flight finish, so a graceful shutdown commits and acks
// what it has started.
func ConsumeBatches(ctx context.Context, cons jetstream.Consumer, opts BatchOptions, h BatchHandler) error {
	if opts.Size <= 0 {
		opts.Size = 500
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 200 * time.Millisecond
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(opts.Size, jetstream.FetchMaxWait(opts.MaxWait))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			report(opts, fmt.Errorf("fetch: %w", err))
			sleep(ctx, opts.Backoff)
			continue
		}
		msgs := make([]jetstream.Msg, 0, opts.Size)
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			report(opts, fmt.Errorf("fetch: %w", err))
		}
		if len(msgs) == 0 {
			continue
		}
		// The batch in flight finishes even when shutdown has begun.
		if err := h(context.WithoutCancel(ctx), msgs); err != nil {
			report(opts, err)
			for _, m := range msgs {
				_ = m.NakWithDelay(opts.Backoff)
			}
			sleep(ctx, opts.Backoff)
		}
	}
	return nil
}

func report(opts BatchOptions, err error) {
	if opts.OnError != nil {
		opts.OnError(err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
