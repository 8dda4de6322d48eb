package service

import (
	"context"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
)

// clockSource is the source attribute of every tick, whichever replica publishes it.
const clockSource = "/dormant/clock"

// TickEvent is the clock tick standing for at. Its id is events.TickID(at), the same for every
// clock that publishes it, so JetStream keeps one tick however many replicas run a clock.
// Tests and operators (replaying or simulating days) publish ticks built here too.
func TickEvent(at time.Time, period time.Duration) (cloudevents.Event, error) {
	at = at.UTC()
	return events.New(clockSource, "", &events.ClockTick{At: at, Period: events.FormatISODuration(period)}, events.TickID(at), at)
}

// clock publishes a tick at every period-aligned instant.
type clock struct {
	js     jetstream.JetStream
	ns     events.Namespace
	period time.Duration
	log    *zap.Logger
	now    func() time.Time
}

// Run publishes the current period's tick at once (a restart mid-period publishes a tick that
// is either new or dropped as a duplicate), then one at each boundary, until ctx ends.
func (c *clock) Run(ctx context.Context) error {
	c.log.Info("clock started", zap.Duration("period", c.period), zap.String("subject", c.ns.Tick()))
	for {
		at := c.now().UTC().Truncate(c.period)
		if err := c.publish(ctx, at); err != nil && ctx.Err() == nil {
			// The next boundary brings the next tick; the policy catches up from it.
			c.log.Error("tick not published", zap.Time("at", at), zap.Error(err))
		}
		wait := time.Until(at.Add(c.period))
		if wait < 0 {
			wait = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (c *clock) publish(ctx context.Context, at time.Time) error {
	ev, err := TickEvent(at, c.period)
	if err != nil {
		return err
	}
	msg, err := events.ToNATS(c.ns.Tick(), ev)
	if err != nil {
		return err
	}
	ack, err := c.js.PublishMsg(ctx, msg)
	if err != nil {
		return fmt.Errorf("publish tick %s: %w", at.Format(time.RFC3339), err)
	}
	c.log.Debug("tick", zap.Time("at", at), zap.Bool("duplicate", ack.Duplicate))
	return nil
}
