package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// retryBackoff is the pause after a failed batch (database or JetStream down) before the
// next one, so an outage is not hammered.
const retryBackoff = time.Second

// Run consumes until ctx ends. Then it stops pulling, handles what the client had already
// received (the batches in flight and the buffer behind them), commits, acks and returns;
// what was still on its way is redelivered to the next consumer after the ack wait.
//
// Three stages run at once, each on its own batch, so that neither the CPU nor the two
// round trips wait for one another: gather and decode batch n+2 while batch n+1 commits in
// the database and batch n's events are acknowledged by JetStream. Batches pass through
// each stage in order, one at a time, so record events of a user still go out in the order
// of the commits. A batch is acked only after its own commit and publish acknowledgements.
// The iterator keeps pull requests outstanding for two batches, so the server is never
// waited on between batches as in a Fetch loop.
func (in *Ingest) Run(ctx context.Context) error {
	in.log.Info("consuming authentication events", zap.String("stream", in.ns.StreamAuth()), zap.String("consumer", in.opts.Consumer))
	it, err := in.cons.Messages(jetstream.PullMaxMessages(2 * in.opts.BatchSize))
	if err != nil {
		return fmt.Errorf("consume %s: %w", in.ns.StreamAuth(), err)
	}
	defer it.Stop()
	stopDrain := context.AfterFunc(ctx, it.Drain)
	defer stopDrain()

	// The batches in flight finish even when shutdown has begun.
	work := context.WithoutCancel(ctx)
	prepared, committed := make(chan *batch, 1), make(chan *batch, 1)
	var pullErr error
	go func() {
		defer close(prepared)
		for {
			msgs, err := in.collect(it)
			if len(msgs) > 0 {
				prepared <- in.prepare(msgs)
			}
			switch {
			case err == nil:
			case errors.Is(err, jetstream.ErrMsgIteratorClosed):
				if ctx.Err() == nil {
					// Closed under us: the connection was closed or the consumer deleted.
					pullErr = fmt.Errorf("consume %s: %w", in.ns.StreamAuth(), err)
				}
				return
			default:
				// Missed heartbeats and the like: the iterator recovers by itself.
				in.log.Warn("pulling authentication events", zap.Error(err))
			}
		}
	}()
	go func() {
		defer close(committed)
		for b := range prepared {
			if err := in.commit(work, b); err != nil {
				in.fail(ctx, b, err)
				continue
			}
			committed <- b
		}
	}()
	for b := range committed {
		if _, err := in.publish(work, b); err != nil {
			in.fail(ctx, b, err)
			continue
		}
		for _, m := range b.msgs {
			// A plain ack is one buffered publish, no round trip. Should it be lost, the
			// event is redelivered after the ack wait and handled again idempotently:
			// nothing is lost and no record event is duplicated (deterministic ids).
			if err := m.Ack(); err != nil {
				in.log.Warn("ack failed; the event will be redelivered", zap.Error(err))
			}
		}
	}
	// Both channels are closed: the puller has returned and set pullErr.
	if pullErr == nil {
		in.log.Info("stopped consuming")
	}
	return pullErr
}

// fail leaves a batch for redelivery after a pause, and pauses this stage as long, so that a
// database or JetStream outage is not hammered.
func (in *Ingest) fail(ctx context.Context, b *batch, err error) {
	in.log.Error("batch failed; it will be redelivered", zap.Int("events", len(b.msgs)), zap.Error(err))
	in.metrics.batchFailures.Inc()
	for _, m := range b.msgs {
		_ = m.NakWithDelay(retryBackoff)
	}
	sleep(ctx, retryBackoff)
}

// collect waits for a first message, then gathers more until the batch is full or
// BatchWait has passed since the first: a quiet site gets its login stored within
// BatchWait, a busy one gets full batches.
func (in *Ingest) collect(it jetstream.MessagesContext) ([]jetstream.Msg, error) {
	first, err := it.Next()
	if err != nil {
		return nil, err
	}
	msgs := make([]jetstream.Msg, 1, in.opts.BatchSize)
	msgs[0] = first
	// One deadline for the whole batch: a timer per Next would cost an allocation per event.
	ctx, cancel := context.WithTimeout(context.Background(), in.opts.BatchWait)
	defer cancel()
	for len(msgs) < in.opts.BatchSize {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return msgs, nil
			}
			return msgs, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
