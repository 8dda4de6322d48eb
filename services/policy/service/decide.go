package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/policy"
)

// byPolicy names the policy itself in the history, as opposed to an admin.
const byPolicy = "policy"

// heldSample is how many user uuids a dormant.policy.held event carries.
const heldSample = 20

// settingsSource reads a site's OpenMRS global properties (*openmrs.Client in production).
type settingsSource interface {
	SystemSettings(ctx context.Context, prefix string) (map[string]string, error)
}

// outMsg is one event to publish on one subject.
type outMsg struct {
	subject string
	ev      cloudevents.Event
}

// publisher stores events durably: publish returns once every event is acknowledged.
type publisher interface {
	publish(ctx context.Context, msgs []outMsg) error
}

// jsPublisher publishes on JetStream with Nats-Msg-Id = the event id, so an event published
// again after a crash is dropped by the server within the duplicate window.
type jsPublisher struct{ js jetstream.JetStream }

// publishChunk bounds the asynchronous publishes in flight.
const publishChunk = 1000

func (p jsPublisher) publish(ctx context.Context, msgs []outMsg) error {
	for len(msgs) > 0 {
		n := min(len(msgs), publishChunk)
		futures := make([]jetstream.PubAckFuture, 0, n)
		for _, m := range msgs[:n] {
			nm, err := events.ToNATS(m.subject, m.ev)
			if err != nil {
				return err
			}
			f, err := p.js.PublishMsgAsync(nm)
			if err != nil {
				return fmt.Errorf("publish %s on %s: %w", m.ev.ID(), m.subject, err)
			}
			futures = append(futures, f)
		}
		for i, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("publish %s on %s: %w", msgs[i].ev.ID(), msgs[i].subject, err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		msgs = msgs[n:]
	}
	return nil
}

// engine takes the decisions: per site, on each tick, it loads the effective policy,
// preselects and evaluates the candidates, guards the batch, publishes and commits.
type engine struct {
	store   policy.Store
	log     *zap.Logger
	ns      events.Namespace
	pub     publisher
	sites   []siteconfig.Site
	clients map[string]settingsSource
	// now is the wall clock, for admin actions (exemptions, approvals); decisions use ticks.
	now     func() time.Time
	metrics *decisionMetrics

	mu sync.Mutex
	// policies holds each site's last good policy: when OpenMRS cannot be reached the site
	// keeps deciding under it rather than under the file alone, which may be looser.
	policies map[string]*sitePolicy
}

// sitePolicy is a site's effective policy, compiled, as loaded for one tick.
type sitePolicy struct {
	tick    time.Time
	rules   *policy.Rules
	version string
	loaded  policy.Loaded
}

// newEngine creates an engine that reads; wire.go gives it a publisher for deciding.
func newEngine(store policy.Store, log *zap.Logger, sites []siteconfig.Site, clients map[string]settingsSource) *engine {
	return &engine{store: store, log: log, sites: sites, clients: clients, now: time.Now, policies: map[string]*sitePolicy{}}
}

func (e *engine) site(id string) (siteconfig.Site, bool) {
	for _, s := range e.sites {
		if s.ID == id {
			return s, true
		}
	}
	return siteconfig.Site{}, false
}

// loadPolicy reads the site's effective policy now: the file's block overridden by the
// site's dormant.* global properties and core's users.numberOfDaysToRetire, with the acting
// account added to never_touch.
func (e *engine) loadPolicy(ctx context.Context, s siteconfig.Site) (policy.Loaded, error) {
	return e.loadPolicyWith(ctx, s, nil)
}

// loadPolicyWith is loadPolicy with extra dormant.* global properties laid over the site's
// own: the what-if preview tries values this way, without saving them anywhere.
func (e *engine) loadPolicyWith(ctx context.Context, s siteconfig.Site, extra map[string]string) (policy.Loaded, error) {
	globals := map[string]string{}
	if c := e.clients[s.ID]; c != nil {
		for _, prefix := range []string{"dormant.", policy.CoreRetireDays} {
			props, err := c.SystemSettings(ctx, prefix)
			if err != nil {
				return policy.Loaded{}, fmt.Errorf("%w: read global properties of %s: %w", errUnreachable, s.ID, err)
			}
			for k, v := range props {
				if k == policy.CoreRetireDays || strings.HasPrefix(k, "dormant.") {
					globals[k] = v
				}
			}
		}
	}
	for k, v := range extra {
		globals[k] = v
	}
	l, err := policy.Load(&s.Policy, globals)
	if err != nil {
		return l, fmt.Errorf("policy of site %s: %w", s.ID, err)
	}
	return withActingUser(l, s), nil
}

// withActingUser protects the account dormant acts as: retiring it would cut dormant off.
func withActingUser(l policy.Loaded, s siteconfig.Site) policy.Loaded {
	if s.OpenMRSUser != "" && !slices.ContainsFunc(l.Policy.NeverTouch, func(n string) bool { return strings.EqualFold(n, s.OpenMRSUser) }) {
		l.Policy.NeverTouch = append(slices.Clone(l.Policy.NeverTouch), s.OpenMRSUser)
	}
	return l
}

// policyFor gives the site's policy for the tick at, loading it once per tick. When OpenMRS
// cannot be reached it keeps the last good policy; with none, it fails and the site waits.
func (e *engine) policyFor(ctx context.Context, s siteconfig.Site, at time.Time) (*sitePolicy, error) {
	e.mu.Lock()
	last := e.policies[s.ID]
	e.mu.Unlock()
	if last != nil && last.tick.Equal(at) {
		return last, nil
	}
	l, err := e.loadPolicy(ctx, s)
	if err != nil {
		if errors.Is(err, errUnreachable) && last != nil {
			e.log.Warn("OpenMRS unreachable: keeping the last good policy", zap.String("site", s.ID),
				zap.String("policy_version", last.version), zap.Error(err))
			return last, nil
		}
		return nil, err
	}
	if len(l.Ignored) > 0 && (last == nil || !slices.Equal(last.loaded.Ignored, l.Ignored)) {
		e.log.Info("dormant.* global properties that are not policy settings (misspelt?)", zap.String("site", s.ID), zap.Strings("ignored", l.Ignored))
	}
	rules, err := policy.Compile(l.Policy)
	if err != nil {
		return nil, fmt.Errorf("policy of site %s: %w", s.ID, err)
	}
	sp := &sitePolicy{tick: at, rules: rules, version: l.Policy.Version(), loaded: l}
	if last == nil || last.version != sp.version {
		e.log.Info("policy loaded", zap.String("site", s.ID), zap.String("policy_version", sp.version),
			zap.Bool("enabled", l.Policy.Enabled), zap.Bool("dry_run", l.Policy.DryRun))
	}
	e.mu.Lock()
	e.policies[s.ID] = sp
	e.mu.Unlock()
	return sp, nil
}

// decideTick runs the tick for every site. A site whose policy cannot be had is skipped
// (logged); any other failure fails the tick, which is redelivered: the sites that committed
// ignore it then, the others decide it again with the same ids.
func (e *engine) decideTick(ctx context.Context, at time.Time) error {
	for _, s := range e.sites {
		plan, err := e.planSite(ctx, s, at)
		if errors.Is(err, errNoPolicy) {
			e.log.Error("site skipped on this tick: no policy", zap.String("site", s.ID), zap.Time("tick", at), zap.Error(err))
			continue
		}
		if err != nil {
			return err
		}
		if plan == nil {
			continue
		}
		if err := e.apply(ctx, plan); err != nil {
			return err
		}
	}
	return nil
}

var (
	errNoPolicy    = errors.New("no policy")
	errUnreachable = errors.New("OpenMRS unreachable")
)

// sitePlan is what one tick decided for one site, before anything is published or stored.
type sitePlan struct {
	msgs   []outMsg
	commit policy.TickCommit
	counts map[string]int
}

// apply publishes the plan's events and then commits its state. Published but not committed
// (a crash between): the redelivered tick plans the same events with the same ids, which
// JetStream drops. Committed but not acked: the redelivered tick is stale and ignored.
func (e *engine) apply(ctx context.Context, plan *sitePlan) error {
	start := time.Now()
	if err := e.pub.publish(ctx, plan.msgs); err != nil {
		return fmt.Errorf("tick %s of %s: %w", plan.commit.At.Format(time.RFC3339), plan.commit.Site, err)
	}
	err := e.store.CommitTick(ctx, plan.commit)
	if errors.Is(err, policy.ErrStaleTick) {
		// Another replica committed the tick first; its events had the same ids as ours.
		return nil
	}
	if err != nil {
		return err
	}
	if e.metrics != nil {
		for kind, n := range plan.counts {
			e.metrics.decisions.WithLabelValues(plan.commit.Site, kind).Add(float64(n))
		}
		e.metrics.publishCommit.Observe(time.Since(start).Seconds())
	}
	return nil
}

// planSite decides the tick at for site s. It reads only: nil means the tick is not newer
// than the last one processed for the site.
func (e *engine) planSite(ctx context.Context, s siteconfig.Site, at time.Time) (*sitePlan, error) {
	start := time.Now()
	ss, err := e.store.SiteState(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	if !policy.TickAccepted(ss.LastTick, at) {
		return nil, nil
	}
	baseline := ss.Baseline
	if baseline.IsZero() {
		baseline = at
	}
	sp, err := e.policyFor(ctx, s, at)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoPolicy, err)
	}
	pol := sp.rules.Policy()
	var cutoffs *policy.Cutoffs
	if pol.Enabled {
		if _, err := e.store.ClassifyDemo(ctx, s.ID, pol.DemoKey(), sp.rules.IsDemo); err != nil {
			return nil, err
		}
		c := pol.Cutoffs(at)
		cutoffs = &c
	}
	// Disabled: only users with a state are read, so their plans are dropped (nothing pending
	// survives switching dormant off).
	cands, err := e.store.Candidates(ctx, s.ID, baseline, cutoffs)
	if err != nil {
		return nil, err
	}
	ex, err := e.store.Exemptions(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(cands, func(a, b policy.Candidate) int { return strings.Compare(a.User.UUID, b.User.UUID) })

	plan := &sitePlan{commit: policy.TickCommit{Site: s.ID, At: at, Baseline: baseline}, counts: map[string]int{}}
	source := events.SourceFor("policy", s.ID)
	history := func(u policy.User, kind, reason, id string, wouldBe bool) {
		plan.commit.History = append(plan.commit.History, policy.HistoryEntry{Site: s.ID, UserUUID: u.UUID, Kind: kind, At: at,
			PolicyVersion: sp.version, By: byPolicy, Reason: reason, EventID: id, WouldBe: wouldBe})
	}
	var requests []policy.HeldRequest
	var dryRequests []outMsg
	for _, c := range cands {
		u := c.User
		out, next := sp.rules.Evaluate(u, c.State, ex, baseline, at)
		var msg *outMsg
		switch out.Kind {
		case policy.KindWarn:
			// A dry-run warning is emitted too, marked would-be (DESIGN.md: decisions are
			// "emitted as would-be"); the notifier lists it for admins and mails no user.
			ev, err := events.New(source, s.ID, &events.UserWarned{UserUUID: u.UUID, Username: u.Username, Rule: out.Rule,
				LastLoginAt: u.LastLoginAt, DeactivateOn: out.DeactivateOn, DaysLeft: out.DaysLeft, PolicyVersion: sp.version,
				DryRun: out.WouldBe}, out.ID, at)
			if err != nil {
				e.log.Error("user skipped: its warning is not a valid event", zap.String("site", s.ID), zap.String("user", u.UUID), zap.Error(err))
				continue
			}
			msg = &outMsg{subject: e.ns.Warned(s.ID), ev: ev}
		case policy.KindDeactivate:
			req := policy.HeldRequest{DecisionID: out.ID, UserUUID: u.UUID, Username: u.Username, Rule: out.Rule, Reason: out.Reason,
				LastLoginAt: u.LastLoginAt, LastActivity: out.LastActivity, DecidedAt: at, PolicyVersion: sp.version}
			ev, err := requestEvent(s.ID, req, out.WouldBe)
			if err != nil {
				e.log.Error("user skipped: its deactivation request is not a valid event", zap.String("site", s.ID), zap.String("user", u.UUID), zap.Error(err))
				continue
			}
			if out.WouldBe {
				dryRequests = append(dryRequests, outMsg{subject: e.ns.DeactivationRequested(s.ID), ev: ev})
				history(u, policy.HistoryRequested, out.Reason, out.ID, true)
				plan.counts["would_be_request"]++
			} else {
				requests = append(requests, req)
			}
		}
		if why := cancelled(c.State, next, u, out); why != "" {
			history(u, policy.HistoryCancelled, why, "", c.State.DryRun)
			plan.counts["cancel"]++
		}
		if out.Kind == policy.KindWarn {
			history(u, policy.HistoryWarned, fmt.Sprintf("%d days left; %s", out.DaysLeft, out.Reason), out.ID, out.WouldBe)
			plan.counts["warn"]++
		}
		if msg != nil {
			plan.msgs = append(plan.msgs, *msg)
		}
		if next != c.State {
			plan.commit.States = append(plan.commit.States, policy.StateChange{UserUUID: u.UUID, State: next})
		}
	}
	plan.msgs = append(plan.msgs, dryRequests...)
	if err := e.guard(ctx, s.ID, sp, ss, at, requests, plan); err != nil {
		return nil, err
	}
	if e.metrics != nil {
		e.metrics.plan.Observe(time.Since(start).Seconds())
	}
	return plan, nil
}

// guard holds the tick's real deactivations when Guard says so, or adds them to the plan.
func (e *engine) guard(ctx context.Context, site string, sp *sitePolicy, ss policy.SiteState, at time.Time, requests []policy.HeldRequest, plan *sitePlan) error {
	if len(requests) == 0 {
		return nil
	}
	pol := sp.rules.Policy()
	active, err := e.store.ActiveUsers(ctx, site)
	if err != nil {
		return err
	}
	hold, reasons := policy.Guard(pol, len(requests), active, ss.LastTick, at, ss.LastFeedAt)
	if !hold {
		for _, r := range requests {
			ev, err := requestEvent(site, r, false)
			if err != nil {
				return err // checked when planned
			}
			plan.msgs = append(plan.msgs, outMsg{subject: e.ns.DeactivationRequested(site), ev: ev})
			plan.commit.History = append(plan.commit.History, policy.HistoryEntry{Site: site, UserUUID: r.UserUUID, Kind: policy.HistoryRequested,
				At: at, PolicyVersion: sp.version, By: byPolicy, Reason: r.Reason, EventID: r.DecisionID})
		}
		plan.counts["request"] += len(requests)
		return nil
	}
	ids := make([]string, len(requests))
	for i, r := range requests {
		ids[i] = r.UserUUID
	}
	// Deterministic: the same tick holding the same users is the same batch on redelivery.
	batchID := events.DerivedID(append([]string{"held", site, at.Format(time.RFC3339Nano)}, ids...)...)
	reason := truncate(strings.Join(reasons, "; "), 1000)
	limit := max(policy.BatchLimit(pol, active), 0)
	ev, err := events.New(events.SourceFor("policy", site), site, &events.PolicyHeld{BatchID: batchID, Count: len(requests), Limit: limit,
		Reason: reason, Sample: ids[:min(len(ids), heldSample)]}, batchID, at)
	if err != nil {
		return fmt.Errorf("held batch of %s: %w", site, err)
	}
	plan.msgs = append(plan.msgs, outMsg{subject: e.ns.Held(site), ev: ev})
	plan.commit.Held = &policy.HeldBatch{Site: site, BatchID: batchID, Tick: at, Reason: reason, Limit: limit, Requests: requests, Status: policy.HeldPending}
	plan.commit.History = append(plan.commit.History, policy.HistoryEntry{Site: site, Kind: policy.HistoryHeld, At: at, PolicyVersion: sp.version,
		By: byPolicy, Reason: fmt.Sprintf("%d deactivations held: %s", len(requests), reason), EventID: batchID, BatchID: batchID})
	for _, r := range requests {
		plan.commit.History = append(plan.commit.History, policy.HistoryEntry{Site: site, UserUUID: r.UserUUID, Kind: policy.HistoryHeld, At: at,
			PolicyVersion: sp.version, By: byPolicy, Reason: r.Reason, EventID: r.DecisionID, BatchID: batchID})
	}
	plan.counts["held"] += len(requests)
	e.log.Warn("deactivations held for approval", zap.String("site", site), zap.String("batch_id", batchID),
		zap.Int("count", len(requests)), zap.String("reason", reason))
	return nil
}

// requestEvent is the deactivation request of r; the held batch keeps r so an approval
// publishes this very event.
func requestEvent(site string, r policy.HeldRequest, wouldBe bool) (cloudevents.Event, error) {
	return events.New(events.SourceFor("policy", site), site, &events.DeactivationRequested{DecisionID: r.DecisionID, UserUUID: r.UserUUID,
		Username: r.Username, Rule: r.Rule, Reason: r.Reason, LastLoginAt: r.LastLoginAt, DecidedAt: r.DecidedAt,
		PolicyVersion: r.PolicyVersion, DryRun: wouldBe}, r.DecisionID, r.DecidedAt)
}

// cancelled says why a user's pending warnings or deactivation were dropped by this tick,
// "" when nothing pending was dropped. A plan without a warning sent had nothing announced
// to cancel; a retired user's plan ended by being carried out, not cancelled.
func cancelled(old, next policy.State, u policy.User, out policy.Outcome) string {
	if old.Warned == 0 || u.Retired {
		return ""
	}
	if next.Rule == old.Rule && next.Anchor.Equal(old.Anchor) && next.Due.Equal(old.Due) && next.DryRun == old.DryRun {
		return ""
	}
	switch {
	case out.Kind == policy.KindProtected:
		return "protected: " + out.Reason
	case u.LastLoginAt != nil && u.LastLoginAt.After(old.Anchor):
		return "logged in at " + u.LastLoginAt.UTC().Format(time.RFC3339)
	case next.DryRun != old.DryRun:
		return "dry run switched; warnings start afresh"
	default:
		return "the policy or the account changed; planned afresh"
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ticks is the component that consumes the clock stream and runs the decisions.
type ticks struct {
	engine *engine
	cons   jetstream.Consumer
	js     jetstream.JetStream
	ns     events.Namespace
	log    *zap.Logger
}

// Run handles one tick at a time (MaxAckPending 1): ticks must be decided in order.
func (t *ticks) Run(ctx context.Context) error {
	t.log.Info("consuming ticks", zap.String("stream", t.ns.StreamClock()))
	return natsbus.ConsumeBatches(ctx, t.cons, natsbus.BatchOptions{
		Size:    1,
		MaxWait: time.Second,
		OnError: func(err error) { t.log.Error("tick failed; will be redelivered", zap.Error(err)) },
	}, func(ctx context.Context, msgs []jetstream.Msg) error {
		for _, m := range msgs {
			if err := t.handle(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *ticks) handle(ctx context.Context, m jetstream.Msg) error {
	tick, reason, err := decodeTick(m)
	if err != nil {
		if err := natsbus.PublishDeadLetter(ctx, t.js, t.ns.DLQ("clock"), natsbus.DeadLetterFrom(m, reason, err.Error())); err != nil {
			return err
		}
		t.log.Warn("tick refused", zap.String("reason", reason), zap.Error(err))
		return m.Ack()
	}
	// Microseconds are what both stores keep; deciding on the stored precision keeps the
	// plans of a redelivered tick identical.
	at := tick.At.UTC().Truncate(time.Microsecond)
	if err := t.engine.decideTick(ctx, at); err != nil {
		return err
	}
	// A double ack waits for the server, so the tick is not redelivered once we move on.
	return m.DoubleAck(ctx)
}

func decodeTick(m jetstream.Msg) (*events.ClockTick, string, error) {
	ev, err := events.FromNATS(m.Headers(), m.Data())
	if err != nil {
		return nil, events.ReasonOf(err), err
	}
	tick, err := events.DecodeAs[*events.ClockTick](ev)
	if err != nil {
		return nil, events.ReasonOf(err), err
	}
	return tick, "", nil
}

type decisionMetrics struct {
	decisions     *prometheus.CounterVec
	plan          prometheus.Histogram
	publishCommit prometheus.Histogram
	// failures counts the actuator's failed deactivations by what the policy did with them.
	failures *prometheus.CounterVec
}

func newDecisionMetrics(reg prometheus.Registerer) *decisionMetrics {
	m := &decisionMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_policy_decisions_total",
			Help: "Decisions taken on ticks, by site and kind (warn, request, would_be_request, held, cancel).",
		}, []string{"site", "kind"}),
		plan: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dormant_policy_tick_plan_seconds",
			Help:    "Time to decide one site's tick (read, evaluate, guard), before publishing.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		publishCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dormant_policy_tick_apply_seconds",
			Help:    "Time to publish one site's tick decisions and commit its state.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_policy_failed_deactivations_total",
			Help: "Failed deactivations the policy recorded, by site and outcome (due_again: proposed again after failure_retry_after; kept: the plan had moved on; duplicate: a redelivery).",
		}, []string{"site", "outcome"}),
	}
	reg.MustRegister(m.decisions, m.plan, m.publishCommit, m.failures)
	return m
}
