package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/platform/leader"
	"github.com/dormant-dev/dormant/services/policy/actuator"
	"github.com/dormant-dev/dormant/services/policy/notifier"
	"github.com/dormant-dev/dormant/services/policy/roster"
)

// ElectionName is the policy's election: the lease's key, and the election label of the
// dormant_leader_* metrics.
const ElectionName = "policy"

// LeaderOptions tune the election of the replica that runs the policy's once-per-cluster
// work. The other replicas consume records and ticks, decide, and serve the admin page.
type LeaderOptions struct {
	// LeaseTTL is how long a leader that stopped renewing (crashed, paused, cut off from
	// NATS) keeps the lease: the longest the singleton work can stand still after a crash.
	// Every replica must use the same value (the lease bucket keeps it).
	LeaseTTL time.Duration `env:"DORMANT_LEADER_LEASE_TTL" envDefault:"15s"`
	// RenewInterval is the time between the leader's renewals; at most half the TTL, so a
	// failed renewal is retried before the lease runs out.
	RenewInterval time.Duration `env:"DORMANT_LEADER_RENEW_INTERVAL" envDefault:"5s"`
}

// Validate reports every bad option, naming its variable.
func (o LeaderOptions) Validate() error {
	var errs []error
	if o.LeaseTTL < 3*time.Second || o.LeaseTTL > 10*time.Minute {
		errs = append(errs, fmt.Errorf("DORMANT_LEADER_LEASE_TTL %s: must be 3s to 10m", o.LeaseTTL))
	}
	if o.RenewInterval <= 0 || o.RenewInterval > o.LeaseTTL/2 {
		errs = append(errs, fmt.Errorf("DORMANT_LEADER_RENEW_INTERVAL %s: must be above 0 and at most half of DORMANT_LEADER_LEASE_TTL (%s)", o.RenewInterval, o.LeaseTTL))
	}
	return errors.Join(errs...)
}

// LeaseBucket is the key-value bucket of the leases under a subject root, so that deployments
// sharing a NATS keep apart as their streams do.
func LeaseBucket(ns events.Namespace) string { return ns.Root + "_leases" }

// Elect joins the election among the policy replicas sharing js. The process that calls it
// may run beside others: its roster sync, actuator and notifier run only while it leads.
func Elect(ctx context.Context, d Deps, replicas int, o LeaderOptions) (*leader.Election, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return leader.New(ctx, d.JS, leader.Options{
		Bucket: LeaseBucket(d.NS), Name: ElectionName, TTL: o.LeaseTTL, Renew: o.RenewInterval,
		Replicas: replicas, Log: d.Log.Named("leader"), Registry: d.Registry,
	})
}

// runSingletons runs the once-per-cluster components while this replica leads.
func (p *Policy) runSingletons(ctx context.Context) error {
	return p.leader.Run(ctx, func(ctx context.Context) error {
		p.log.Info("leading: starting the once-per-cluster work", zap.Int("components", len(p.singletons)))
		g, gctx := errgroup.WithContext(ctx)
		for _, c := range p.singletons {
			g.Go(func() error { return c.Run(gctx) })
		}
		err := g.Wait()
		p.log.Info("once-per-cluster work stopped", zap.Error(err))
		return err
	})
}

// The guards below stand between the singleton work and the outside world: each effect (an
// OpenMRS call, an email, a publish) first checks that the lease is still held, so a leader
// that was paused or cut off past its lease does nothing more once another may have taken
// over. ErrLeaseLost counts as a deadline, which the actuator and the notifier retry: the
// message goes back to JetStream for the next leader.

// leaseJS refuses to publish without the lease; everything else passes through.
type leaseJS struct {
	jetstream.JetStream
	lease leader.Lease
}

func (j leaseJS) Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if !j.lease.Valid() {
		return nil, leader.ErrLeaseLost
	}
	return j.JetStream.Publish(ctx, subject, data, opts...)
}

func (j leaseJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if !j.lease.Valid() {
		return nil, leader.ErrLeaseLost
	}
	return j.JetStream.PublishMsg(ctx, msg, opts...)
}

func (j leaseJS) PublishAsync(subject string, data []byte, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	if !j.lease.Valid() {
		return nil, leader.ErrLeaseLost
	}
	return j.JetStream.PublishAsync(subject, data, opts...)
}

func (j leaseJS) PublishMsgAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	if !j.lease.Valid() {
		return nil, leader.ErrLeaseLost
	}
	return j.JetStream.PublishMsgAsync(msg, opts...)
}

// leaseActuatorClient is a site's OpenMRS as the actuator sees it, behind the lease.
type leaseActuatorClient struct {
	c     actuator.OpenMRS
	lease leader.Lease
}

func (l leaseActuatorClient) User(ctx context.Context, uuid string) (openmrs.User, error) {
	if !l.lease.Valid() {
		return openmrs.User{}, leader.ErrLeaseLost
	}
	return l.c.User(ctx, uuid)
}

func (l leaseActuatorClient) RetireUser(ctx context.Context, uuid, reason string) error {
	if !l.lease.Valid() {
		return leader.ErrLeaseLost
	}
	return l.c.RetireUser(ctx, uuid, reason)
}

func (l leaseActuatorClient) UnretireUser(ctx context.Context, uuid string) error {
	if !l.lease.Valid() {
		return leader.ErrLeaseLost
	}
	return l.c.UnretireUser(ctx, uuid)
}

// leaseRoster is a site's OpenMRS as the roster sync reads it. The check runs before the
// first page and before each user, so a sync stops within one page of the lease's end.
type leaseRoster struct {
	c     roster.Source
	lease leader.Lease
}

func (l leaseRoster) EachUser(ctx context.Context, pageSize, startIndex int, fn func(u openmrs.User, index int) error) error {
	if !l.lease.Valid() {
		return leader.ErrLeaseLost
	}
	return l.c.EachUser(ctx, pageSize, startIndex, eachWhileLeading(l.lease, fn))
}

func eachWhileLeading(lease leader.Lease, fn func(u openmrs.User, index int) error) func(u openmrs.User, index int) error {
	return func(u openmrs.User, index int) error {
		if !lease.Valid() {
			return leader.ErrLeaseLost
		}
		return fn(u, index)
	}
}

func (l leaseRoster) Person(ctx context.Context, uuid string) (openmrs.Person, error) {
	if !l.lease.Valid() {
		return openmrs.Person{}, leader.ErrLeaseLost
	}
	return l.c.Person(ctx, uuid)
}

// leaseAdmins is the roster the notifier reads a site's admins from.
type leaseAdmins struct {
	c     notifier.Roster
	lease leader.Lease
}

func (l leaseAdmins) EachUser(ctx context.Context, pageSize, startIndex int, fn func(u openmrs.User, index int) error) error {
	if !l.lease.Valid() {
		return leader.ErrLeaseLost
	}
	return l.c.EachUser(ctx, pageSize, startIndex, eachWhileLeading(l.lease, fn))
}

// leaseAlerter posts OpenMRS on-screen alerts behind the lease.
type leaseAlerter struct {
	c     notifier.Alerter
	lease leader.Lease
}

func (l leaseAlerter) CreateAlert(ctx context.Context, a openmrs.Alert) error {
	if !l.lease.Valid() {
		return leader.ErrLeaseLost
	}
	return l.c.CreateAlert(ctx, a)
}

// leaseMailer sends email behind the lease.
type leaseMailer struct {
	m     notifier.Mailer
	lease leader.Lease
}

func (l leaseMailer) Send(ctx context.Context, m notifier.Message) error {
	if !l.lease.Valid() {
		return leader.ErrLeaseLost
	}
	return l.m.Send(ctx, m)
}
