// Package actuator carries out the policy's deactivation requests against OpenMRS: it retires
// users through the REST API with the decision's reason (never purging, never deleting),
// records what became of each decision, and emits dormant.user.deactivated or
// dormant.user.deactivation.failed. It also reactivates users (Reactivate).
//
// It does not trust its input. Whatever a request says, it refuses to retire the account it
// acts as, OpenMRS's admin and daemon, the site's never_touch accounts, users holding an exempt
// role and users with an exemption, and reports the attempt as dormant.security.alert
// (kind refused_deactivation). never_touch and the exempt roles are the site's effective
// policy, global properties included (Deps.Policies); when it cannot be read, nothing is
// retired until it can (policies.go). A user who logged in after the decision is not retired: the
// decision is recorded as superseded.
//
// Retries compose in two layers. The OpenMRS client repeats each REST call on 5xx, 429 and
// network errors a few times within seconds (exponential backoff with jitter, honouring
// Retry-After): that rides out a blip without giving up the message. When a call still fails
// with such an error, the actuator naks the request with its own, longer exponential backoff
// with jitter (RetryBackoff doubling up to MaxRetryBackoff), so an OpenMRS down for minutes is
// waited out by JetStream redelivery without holding a worker. After MaxAttempts deliveries,
// or at once for another 4xx, it emits the failure event.
//
// Exactly-once effect: the order is REST call, event, record, ack. A crash anywhere before the
// record redelivers the request; the retry finds the user retired in OpenMRS (RetireUser reads
// first and never retires twice, which would overwrite the reason) and publishes the event
// again under the same id (DerivedID("deactivated", decision_id)), which JetStream drops as a
// duplicate within its duplicate window. Once recorded, a redelivered request is only acked.
package actuator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
	"github.com/dormant-dev/dormant/services/policy"
)

// KindRefusedDeactivation is the security alert kind for a refused request.
const KindRefusedDeactivation = "refused_deactivation"

// OpenMRS is what the actuator needs of a site's REST client (*openmrs.Client).
type OpenMRS interface {
	User(ctx context.Context, uuid string) (openmrs.User, error)
	RetireUser(ctx context.Context, uuid, reason string) error
	UnretireUser(ctx context.Context, uuid string) error
}

// Projection is the policy's view of users (policy.Store), read for the "logged in since the
// decision" check and for the roles the roster sync saw.
type Projection interface {
	User(ctx context.Context, site, userUUID string) (policy.User, error)
}

// Exemptions says whether a user has an active exemption. The decision engine owns exemptions;
// until it offers this, Deps.Exemptions is nil and only the guard's rules apply.
type Exemptions interface {
	// Exempt returns the exemption's reason when one protects the user at t.
	Exempt(ctx context.Context, site, userUUID string, t time.Time) (reason string, ok bool, err error)
}

// Site is one site the actuator acts on.
type Site struct {
	ID     string
	Client OpenMRS
	Guard  Guard
}

// Deps are the actuator's connections.
type Deps struct {
	Log        *zap.Logger
	JS         jetstream.JetStream
	NS         events.Namespace
	Store      *Store
	Projection Projection
	// Exemptions may be nil (see Exemptions).
	Exemptions Exemptions
	// Policies gives each site's effective policy for the guard. Nil (tools, tests): the
	// guard is Site.Guard alone.
	Policies Policies
	// Sites are the sites with an OpenMRS connection. A request for another configured site
	// fails (retryable: false); a request for an unknown site is dead-lettered.
	Sites []Site
	// Known lists every configured site id.
	Known    []string
	Registry prometheus.Registerer
	// Now is the wall clock the records and events are stamped with (nil: time.Now); tests
	// that simulate days replace it.
	Now func() time.Time
}

// Actuator is the component. Create it with New, run it with Run.
type Actuator struct {
	log      *zap.Logger
	js       jetstream.JetStream
	ns       events.Namespace
	store    *Store
	proj     Projection
	exempt   Exemptions
	policies *policyCache // nil: Site.Guard alone
	sites    map[string]*siteState
	known    map[string]bool
	opts     Options
	cons     jetstream.Consumer
	metrics  *metrics
	now      func() time.Time
	newID    func() string
	jitter   func(time.Duration) time.Duration
	crashAt  func(stage string) // test seam: simulates a crash at a stage (see export_test.go)
	inflight sync.WaitGroup
}

type siteState struct {
	Site
	limiter *rate.Limiter
}

// New creates the durable consumer of deactivation requests. Nothing is consumed until Run.
func New(ctx context.Context, d Deps, opts Options) (*Actuator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	a := &Actuator{
		log: d.Log.Named("actuator"), js: d.JS, ns: d.NS, store: d.Store, proj: d.Projection, exempt: d.Exemptions,
		sites: map[string]*siteState{}, known: map[string]bool{}, opts: opts,
		now: func() time.Time { return time.Now().UTC() }, newID: randomID,
		jitter: func(d time.Duration) time.Duration { return d/2 + time.Duration(rand.Int64N(int64(d/2)+1)) },
	}
	if d.Now != nil {
		a.now = func() time.Time { return d.Now().UTC() }
	}
	if d.Policies != nil {
		a.policies = &policyCache{src: d.Policies, maxAge: PolicyMaxAge, sites: map[string]cachedPolicy{}}
	}
	for _, id := range d.Known {
		a.known[id] = true
	}
	for _, s := range d.Sites {
		a.known[s.ID] = true
		// Burst 1 spaces retirements evenly: OpenMRS sees a steady trickle, never a spike. The
		// bucket starts empty, so no second (the first after a start included) sees more than
		// Rate retirements.
		l := rate.NewLimiter(rate.Limit(opts.Rate), 1)
		l.Allow()
		a.sites[s.ID] = &siteState{Site: s, limiter: l}
	}
	var err error
	a.cons, err = d.JS.CreateOrUpdateConsumer(ctx, d.NS.StreamDecisions(), jetstream.ConsumerConfig{
		Durable:       opts.Consumer,
		Description:   "actuator: deactivation requests carried out in OpenMRS",
		FilterSubject: d.NS.DeactivationRequested("*"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxAckPending: 4 * opts.Concurrency,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// The actuator counts attempts itself and ends with a failure event; JetStream must
		// not drop a request silently first.
		MaxDeliver: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", opts.Consumer, err)
	}
	a.metrics = newMetrics(d.Registry)
	return a, nil
}

// Run carries out requests until ctx ends, then lets the requests in flight finish.
func (a *Actuator) Run(ctx context.Context) error {
	it, err := a.cons.Messages(jetstream.PullMaxMessages(a.opts.Concurrency))
	if err != nil {
		return fmt.Errorf("consume %s: %w", a.opts.Consumer, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	a.log.Info("consuming deactivation requests", zap.String("consumer", a.opts.Consumer),
		zap.Float64("rate_per_site", a.opts.Rate), zap.Int("concurrency", a.opts.Concurrency))
	sem := make(chan struct{}, a.opts.Concurrency)
	defer a.inflight.Wait()
	for {
		m, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			a.log.Warn("fetching deactivation requests", zap.Error(err))
			continue
		}
		sem <- struct{}{}
		a.inflight.Add(1)
		go func() {
			defer a.inflight.Done()
			defer func() { <-sem }()
			a.handle(ctx, m)
		}()
	}
}

// handle carries out one request and settles its message. The work runs on a context that
// shutdown does not cancel, so a retirement in flight is finished and recorded, not abandoned
// halfway; only the wait for the rate limiter gives way to shutdown.
func (a *Actuator) handle(ctx context.Context, m jetstream.Msg) {
	// Keep the request ours while a slow OpenMRS is retried within the client.
	keep := time.NewTicker(a.opts.AckWait / 3)
	done := make(chan struct{})
	defer func() { keep.Stop(); close(done) }()
	go func() {
		for {
			select {
			case <-done:
				return
			case <-keep.C:
				_ = m.InProgress()
			}
		}
	}()

	ev, err := events.FromNATS(m.Headers(), m.Data())
	if err == nil {
		var d *events.DeactivationRequested
		if d, err = events.DecodeAs[*events.DeactivationRequested](ev); err == nil {
			a.settle(m, a.carryOut(ctx, events.Site(ev), d, deliveries(m)))
			return
		}
	}
	a.deadLetter(m, events.ReasonOf(err), err)
}

// result says how to settle a request's message.
type result struct {
	outcome Outcome // "" while the request is to be retried
	retryIn time.Duration
	err     error // what went wrong, for the log
	// deadLetter is the reason a request that can never be carried out is parked.
	deadLetter string
}

func (a *Actuator) settle(m jetstream.Msg, r result) {
	switch {
	case r.deadLetter != "":
		a.deadLetter(m, r.deadLetter, r.err)
	case r.outcome == "":
		a.metrics.retries.Inc()
		if err := m.NakWithDelay(r.retryIn); err != nil {
			a.log.Warn("nak failed; the request comes back after the ack wait", zap.Error(err))
		}
	default:
		if err := m.Ack(); err != nil {
			a.log.Warn("ack failed; the request will be redelivered and answered from the record", zap.Error(err))
		}
	}
}

func (a *Actuator) deadLetter(m jetstream.Msg, reason string, err error) {
	detail := ""
	if err != nil {
		detail = err.Error()
	}
	if perr := natsbus.PublishDeadLetter(context.Background(), a.js, a.ns.DLQ("actuator"), natsbus.DeadLetterFrom(m, reason, detail)); perr != nil {
		a.log.Error("dead-lettering failed; the request will be redelivered", zap.Error(perr))
		_ = m.NakWithDelay(a.opts.RetryBackoff)
		return
	}
	a.log.Warn("request refused as unreadable", zap.String("reason", reason), zap.String("detail", detail))
	a.metrics.outcomes.WithLabelValues("", "dead_letter").Inc()
	_ = m.Ack()
}

func deliveries(m jetstream.Msg) int {
	md, err := m.Metadata()
	if err != nil || md.NumDelivered < 1 {
		return 1
	}
	return int(md.NumDelivered)
}

// carryOut decides and does what a request asks; attempt counts its deliveries from 1.
func (a *Actuator) carryOut(ctx context.Context, site string, d *events.DeactivationRequested, attempt int) result {
	wctx := context.WithoutCancel(ctx)
	if !a.known[site] {
		return result{deadLetter: "unknown_site", err: fmt.Errorf("site %q is not configured", site)}
	}
	if rec, ok, err := a.store.Decision(wctx, site, d.DecisionID); err != nil {
		return a.retry(attempt, err)
	} else if ok {
		// Already carried out (a redelivery after the record was written): nothing to redo.
		return result{outcome: rec.Outcome}
	}
	if d.DryRun {
		return a.finish(wctx, site, d, OutcomeWouldBe, "dry run: not retired")
	}
	s, ok := a.sites[site]
	if !ok {
		return a.fail(wctx, site, d, attempt, errors.New("the site has no OpenMRS connection configured"), false)
	}

	target := Target{Names: []string{d.Username}}
	pu, err := a.proj.User(wctx, site, d.UserUUID)
	switch {
	case errors.Is(err, policy.ErrNotFound):
		// OpenMRS is asked below; the projection may simply not have synced the user yet.
	case err != nil:
		return a.retry(attempt, fmt.Errorf("read projection: %w", err))
	default:
		if why := supersededBy(pu, d); why != "" {
			return a.finish(wctx, site, d, OutcomeSuperseded, why)
		}
		target.Names = append(target.Names, pu.Username, pu.SystemID)
		target.Roles = pu.Roles
	}
	guard, err := a.guardFor(wctx, s)
	if err != nil {
		return a.guardUnavailable(wctx, site, d, attempt, err)
	}
	if r, done := a.refuse(wctx, s, guard, d, target); done {
		return r
	}

	if err := s.limiter.Wait(ctx); err != nil {
		// Shutting down: leave the request for the next run.
		return result{retryIn: 0, err: err}
	}
	start := time.Now()
	ou, err := s.Client.User(wctx, d.UserUUID)
	if err != nil {
		return a.openmrsFailed(wctx, site, d, attempt, fmt.Errorf("read user: %w", err))
	}
	target.Names = append(target.Names, ou.Username, ou.SystemID)
	for _, r := range ou.Roles {
		target.Roles = append(target.Roles, r.Name)
	}
	if r, done := a.refuse(wctx, s, guard, d, target); done {
		return r
	}
	detail := "retired"
	retiredAt := a.now()
	if ou.Retired {
		detail = "already retired in OpenMRS"
		if ou.RetireReason != "" {
			detail += ": " + ou.RetireReason
		}
		if ou.DateRetired != nil {
			retiredAt = ou.DateRetired.UTC()
		}
	} else {
		if err := s.Client.RetireUser(wctx, d.UserUUID, d.Reason); err != nil {
			return a.openmrsFailed(wctx, site, d, attempt, err)
		}
		a.metrics.latency.Observe(time.Since(start).Seconds())
	}
	a.crash("after-retire")
	username := firstNonEmpty(ou.Username, d.Username)
	data := &events.UserDeactivated{DecisionID: d.DecisionID, UserUUID: d.UserUUID, Username: username, Reason: d.Reason, RetiredAt: retiredAt}
	if err := a.publish(wctx, site, data, events.DerivedID("deactivated", d.DecisionID)); err != nil {
		return a.retry(attempt, err)
	}
	a.crash("after-publish")
	return a.finish(wctx, site, d, OutcomeDeactivated, detail)
}

// supersededBy says why a decision no longer holds: the projection has seen the user log in
// after the decision was taken, or after the last login the decision was based on.
func supersededBy(u policy.User, d *events.DeactivationRequested) string {
	if u.LastLoginAt == nil {
		return ""
	}
	last := u.LastLoginAt.UTC()
	if last.After(d.DecidedAt) {
		return fmt.Sprintf("logged in at %s, after the decision at %s", last.Format(time.RFC3339), d.DecidedAt.UTC().Format(time.RFC3339))
	}
	if d.LastLoginAt == nil {
		return fmt.Sprintf("logged in at %s; the decision saw no login", last.Format(time.RFC3339))
	}
	if last.After(*d.LastLoginAt) {
		return fmt.Sprintf("logged in at %s, after the last login the decision saw (%s)", last.Format(time.RFC3339), d.LastLoginAt.UTC().Format(time.RFC3339))
	}
	return ""
}

// refuse checks the guard and the exemptions; done is true when the request was refused (or
// the check could not be made and the request is to be retried).
func (a *Actuator) refuse(ctx context.Context, s *siteState, g Guard, d *events.DeactivationRequested, t Target) (result, bool) {
	why := g.Refusal(t)
	if why == "" && a.exempt != nil {
		reason, ok, err := a.exempt.Exempt(ctx, s.ID, d.UserUUID, a.now())
		if err != nil {
			return a.retry(1, fmt.Errorf("read exemptions: %w", err)), true
		}
		if ok {
			why = "the user has an exemption: " + reason
		}
	}
	if why == "" {
		return result{}, false
	}
	alert := &events.SecurityAlert{
		Kind: KindRefusedDeactivation, UserUUID: d.UserUUID, Username: d.Username, OccurredAt: a.now(),
		Detail: fmt.Sprintf("decision %s (rule %s, policy %s) asked to retire a protected account: %s", d.DecisionID, d.Rule, d.PolicyVersion, why),
	}
	if err := a.publish(ctx, s.ID, alert, events.DerivedID("refused-deactivation", d.DecisionID)); err != nil {
		return a.retry(1, err), true
	}
	a.log.Warn("refused to retire a protected account", zap.String("site", s.ID), zap.String("decision", d.DecisionID),
		zap.String("user", d.UserUUID), zap.String("why", why))
	return a.finish(ctx, s.ID, d, OutcomeRefused, why), true
}

// guardUnavailable holds a request whose guard could not be had: it is retried with the usual
// backoff and, after the last attempt, fails (retryable) without anything retired. Failing
// safe is the point: the file's lists alone may be looser than the policy the decision was
// taken under.
func (a *Actuator) guardUnavailable(ctx context.Context, site string, d *events.DeactivationRequested, attempt int, err error) result {
	a.log.Warn("retirement held: the guard cannot be checked", zap.String("site", site), zap.String("decision", d.DecisionID),
		zap.String("user", d.UserUUID), zap.Int("attempt", attempt), zap.Error(err))
	if attempt < a.opts.MaxAttempts {
		return a.retry(attempt, err)
	}
	return a.fail(ctx, site, d, attempt, err, true)
}

// openmrsFailed retries what may pass (5xx, 429, network) until the last attempt and fails
// the rest at once.
func (a *Actuator) openmrsFailed(ctx context.Context, site string, d *events.DeactivationRequested, attempt int, err error) result {
	if openmrs.Retryable(err) && attempt < a.opts.MaxAttempts {
		return a.retry(attempt, err)
	}
	return a.fail(ctx, site, d, attempt, err, openmrs.Retryable(err))
}

// retry naks with exponential backoff and jitter: RetryBackoff after the first attempt,
// doubling up to MaxRetryBackoff.
func (a *Actuator) retry(attempt int, err error) result {
	d := a.opts.RetryBackoff
	for i := 1; i < attempt && d < a.opts.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, a.opts.MaxRetryBackoff)
	a.log.Info("will retry the request", zap.Int("attempt", attempt), zap.Error(err))
	return result{retryIn: a.jitter(d), err: err}
}

func (a *Actuator) fail(ctx context.Context, site string, d *events.DeactivationRequested, attempt int, cause error, retryable bool) result {
	data := &events.DeactivationFailed{DecisionID: d.DecisionID, UserUUID: d.UserUUID, Error: cause.Error(), Attempts: attempt, Retryable: retryable}
	if err := a.publish(ctx, site, data, events.DerivedID("deactivation-failed", d.DecisionID)); err != nil {
		return a.retry(attempt, err)
	}
	a.log.Error("deactivation failed", zap.String("site", site), zap.String("decision", d.DecisionID),
		zap.String("user", d.UserUUID), zap.Int("attempts", attempt), zap.Bool("retryable", retryable), zap.Error(cause))
	return a.finish(ctx, site, d, OutcomeFailed, cause.Error())
}

func (a *Actuator) finish(ctx context.Context, site string, d *events.DeactivationRequested, o Outcome, detail string) result {
	err := a.store.Record(ctx, Record{Site: site, DecisionID: d.DecisionID, UserUUID: d.UserUUID, Username: d.Username,
		Outcome: o, Detail: detail, DecidedAt: d.DecidedAt, RecordedAt: a.now()})
	if err != nil {
		// Everything before is idempotent: the redelivery does it again and records then.
		return a.retry(1, err)
	}
	a.metrics.outcomes.WithLabelValues(site, string(o)).Inc()
	return result{outcome: o}
}

// publish emits one event and waits for JetStream to store it (or to drop it as a duplicate).
func (a *Actuator) publish(ctx context.Context, site string, d events.Data, id string) error {
	ev, err := events.New(events.SourceFor("actuator", site), site, d, id, a.now())
	if err != nil {
		return err
	}
	msg, err := events.ToNATS(a.ns.SubjectFor(site, d), ev)
	if err != nil {
		return err
	}
	if _, err := a.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish %s: %w", d.EventType(), err)
	}
	return nil
}

func (a *Actuator) crash(stage string) {
	if a.crashAt != nil {
		a.crashAt(stage)
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

type metrics struct {
	outcomes *prometheus.CounterVec
	retries  prometheus.Counter
	latency  prometheus.Histogram
	// guardUnavailable counts requests held because the site's effective policy could not be read.
	guardUnavailable *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_actuator_requests_total",
			Help: "Deactivation requests settled, by site and outcome (deactivated, superseded, would_be, refused, failed, dead_letter).",
		}, []string{"site", "outcome"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dormant_actuator_retries_total",
			Help: "Deactivation requests put back for a later attempt.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dormant_actuator_retire_seconds",
			Help:    "Time OpenMRS took to retire a user (read and retire calls, retries included).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		guardUnavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_actuator_guard_unavailable_total",
			Help: "Deactivation requests held (not retired, retried later) because the site's effective policy, global properties included, could not be read for the guard.",
		}, []string{"site"}),
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.retries, m.latency, m.guardUnavailable)
	}
	return m
}
