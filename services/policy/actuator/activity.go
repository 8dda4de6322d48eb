package actuator

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
)

// ActivityRecorder is the part of the policy projection the feed updates (policy.Store):
// activity moves forward (without moving the site's feed health: a reactivation is not a
// login from the hook), and the retired flag follows what OpenMRS did.
type ActivityRecorder interface {
	RecordActivity(ctx context.Context, site, userUUID, username string, at time.Time) (bool, error)
	SetRetired(ctx context.Context, site, userUUID string, retired bool) (bool, error)
}

// FailureRecorder is told of each dormant.user.deactivation.failed, with the event's time and
// id (the same on a redelivery): the policy returns the user to due (service/failed.go).
type FailureRecorder interface {
	DeactivationFailed(ctx context.Context, site string, at time.Time, eventID string, d *events.DeactivationFailed) error
}

// ActivityFeed folds the actuator's outcomes into the policy projection: a retirement marks
// the user retired at once (not only at the next roster sync, so counts, lists and previews
// are right meanwhile), and dormant.user.reactivated unmarks it and counts as activity at the
// reactivation's time. That is the fresh grace period: the decision engine measures
// inactivity from the last activity, so a reactivated user starts a new cycle (with its
// warnings) instead of being retired again at the next tick, and a deactivation request
// decided before the reactivation is superseded when it reaches the actuator. It runs in the
// policy service beside the projection, so it works whoever reactivated (the admin page in
// this process, or `dormant reactivate` in another). A failed deactivation goes to Failures,
// which returns the user to due so the policy proposes it again.
//
// The projection's last_login_at then reads "last activity" for such a user; the record of
// who reactivated and why is the actuator's (Store.Reactivations).
type ActivityFeed struct {
	log      *zap.Logger
	cons     jetstream.Consumer
	recorder ActivityRecorder
	js       jetstream.JetStream
	ns       events.Namespace
	// Failures, when set, is told of every failed deactivation; without it they are skipped
	// as before (the feed consumes the whole actions stream).
	Failures FailureRecorder
}

// NewActivityFeed creates the durable consumer of the actions stream (deactivations and
// reactivations, in the order they happened).
func NewActivityFeed(ctx context.Context, log *zap.Logger, js jetstream.JetStream, ns events.Namespace, consumer string, r ActivityRecorder) (*ActivityFeed, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, ns.StreamActions(), jetstream.ConsumerConfig{
		Durable:       consumer,
		Description:   "policy: retirements, reactivations (fresh grace period) and failed deactivations (due again) folded into the projection",
		FilterSubject: ns.ActionsAll(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", consumer, err)
	}
	return &ActivityFeed{log: log.Named("reactivation-activity"), cons: cons, recorder: r, js: js, ns: ns}, nil
}

// Run folds reactivations until ctx ends.
func (f *ActivityFeed) Run(ctx context.Context) error {
	return natsbus.ConsumeBatches(ctx, f.cons, natsbus.BatchOptions{
		Size: 100, MaxWait: 200 * time.Millisecond,
		OnError: func(err error) { f.log.Error("reactivations batch failed; will be redelivered", zap.Error(err)) },
	}, f.apply)
}

func (f *ActivityFeed) apply(ctx context.Context, msgs []jetstream.Msg) error {
	for _, m := range msgs {
		ev, err := events.FromNATS(m.Headers(), m.Data())
		var d events.Data
		if err == nil {
			d, err = events.Decode(ev)
		}
		if err != nil {
			if err := natsbus.PublishDeadLetter(ctx, f.js, f.ns.DLQ("actions"), natsbus.DeadLetterFrom(m, events.ReasonOf(err), err.Error())); err != nil {
				return err
			}
			_ = m.Ack()
			continue
		}
		site := events.Site(ev)
		// Each step is idempotent: activity only moves forward and the flag is set, not
		// toggled, so a redelivery changes nothing.
		switch d := d.(type) {
		case *events.UserDeactivated:
			if _, err := f.recorder.SetRetired(ctx, site, d.UserUUID, true); err != nil {
				return err
			}
		case *events.DeactivationFailed:
			if f.Failures != nil {
				if err := f.Failures.DeactivationFailed(ctx, site, ev.Time().UTC(), ev.ID(), d); err != nil {
					return err
				}
			}
		case *events.UserReactivated:
			if _, err := f.recorder.SetRetired(ctx, site, d.UserUUID, false); err != nil {
				return err
			}
			if _, err := f.recorder.RecordActivity(ctx, site, d.UserUUID, d.Username, ev.Time().UTC()); err != nil {
				return err
			}
		}
		_ = m.Ack()
	}
	return nil
}
