// Package leader elects one replica of a service to run the work that must happen once per
// cluster (the policy service's roster sync, actuator and notifier), with a lease kept in a
// NATS JetStream key-value bucket: no infrastructure beyond the NATS the services already use.
//
// The lease is one key whose value is the holder's id. The bucket's TTL (its stream's MaxAge,
// the only expiry NATS 2.9 offers; per-key TTLs came with 2.11) removes the key when its
// holder stops renewing it. A candidate takes the lease with Create (succeeds only when the
// key is absent or deleted), renews it with Update at the revision it holds (a compare-and-set:
// it fails when anybody else wrote the key in between), and on a graceful stop deletes it at
// that revision, which the other candidates see through a watch and take over at once.
//
// The bound. A holder measures its lease from the instant before it sent the write that won
// or renewed it (start), on its monotonic clock, and holds it until start + TTL - Skew. The
// server stamps the write after start, so the key cannot expire before start + TTL of real
// time; Skew covers the NATS servers' wall clocks disagreeing (a replicated bucket's new
// stream leader expires messages by its own clock) and clock rate drift. Another candidate
// can only win after the key is gone, so two leaders never overlap, provided the work itself
// asks Valid before every effect (each OpenMRS call, each publish). A holder that is paused
// (a stopped process, a long GC, a frozen VM) and resumes after its lease ended finds Valid
// false before its next effect; what it had already started before the pause (one HTTP
// request in flight per worker) is the only work that can land after the lease passed.
//
// Takeover: after a graceful stop, as soon as the followers' watch reports the delete; after a
// crash, within TTL of the holder's last renewal plus one Retry (the followers' polling: an
// expiry by MaxAge leaves no marker for a watch to see).
package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// ErrLeaseLost is what guarded work returns when it was about to act without a valid lease.
// It wraps context.DeadlineExceeded on purpose: the lease is a deadline, and callers that
// retry on deadlines (the OpenMRS client's Retryable, JetStream redelivery) put the work back
// for the next leader instead of recording it as failed.
var ErrLeaseLost = fmt.Errorf("leadership lease not held: %w", context.DeadlineExceeded)

// Lease is what guarded work checks before each effect.
type Lease interface {
	// Valid reports whether this process holds the lease now.
	Valid() bool
}

// Candidate runs work while it leads: an Election, or Solo where there is nothing to elect.
type Candidate interface {
	Lease
	// Run campaigns until ctx ends. Each time it wins, it calls lead with a context that ends
	// when the leadership ends, and waits for lead to return before anybody else can win.
	// An error from lead ends Run with that error.
	Run(ctx context.Context, lead func(ctx context.Context) error) error
}

// Options configure an Election.
type Options struct {
	// Bucket is the key-value bucket holding the leases (created when missing).
	Bucket string
	// Name is the election: the key in the bucket, and a label in logs and metrics.
	Name string
	// ID is this candidate (default: the host name and a random suffix, new at each start).
	ID string
	// TTL is the lease's length, and the bucket's TTL.
	TTL time.Duration
	// Renew is the time between renewals (default TTL/3).
	Renew time.Duration
	// Retry is the time between a follower's attempts, and between a leader's attempts
	// after a failed renewal (default TTL/10).
	Retry time.Duration
	// Skew is taken off the lease's local end (default TTL/10): see the package comment.
	Skew time.Duration
	// Replicas is the bucket's replica count (default 1).
	Replicas int
	Log      *zap.Logger
	Registry prometheus.Registerer
}

func (o *Options) fill() error {
	if o.ID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "candidate"
		}
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("leader: candidate id: %w", err)
		}
		o.ID = host + "-" + hex.EncodeToString(b[:])
	}
	if o.Renew == 0 {
		o.Renew = o.TTL / 3
	}
	if o.Retry == 0 {
		o.Retry = o.TTL / 10
	}
	if o.Skew == 0 {
		o.Skew = o.TTL / 10
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return nil
}

func (o Options) validate() error {
	var errs []error
	if o.Bucket == "" {
		errs = append(errs, errors.New("leader: bucket: must not be empty"))
	}
	if o.Name == "" {
		errs = append(errs, errors.New("leader: name: must not be empty"))
	}
	if o.TTL < 500*time.Millisecond {
		errs = append(errs, fmt.Errorf("leader: ttl %s: must be at least 500ms", o.TTL))
	}
	if o.Renew <= 0 || o.Renew > o.TTL/2 {
		errs = append(errs, fmt.Errorf("leader: renew %s: must be above 0 and at most half the ttl %s", o.Renew, o.TTL))
	}
	if o.Retry <= 0 || o.Retry > o.TTL {
		errs = append(errs, fmt.Errorf("leader: retry %s: must be above 0 and at most the ttl %s", o.Retry, o.TTL))
	}
	if o.Skew < 0 || o.Skew > o.TTL/4 {
		errs = append(errs, fmt.Errorf("leader: skew %s: must be 0 to a quarter of the ttl %s", o.Skew, o.TTL))
	}
	if o.Replicas < 1 || o.Replicas > 5 {
		errs = append(errs, fmt.Errorf("leader: replicas %d: must be 1 to 5", o.Replicas))
	}
	return errors.Join(errs...)
}

// Election is one candidate in an election. Create it with New, campaign with Run.
type Election struct {
	kv      jetstream.KeyValue
	opts    Options
	log     *zap.Logger
	metrics *Metrics

	mu       sync.Mutex
	until    time.Time // end of the lease on the monotonic clock; zero when not held
	revision uint64    // the key's revision this candidate wrote last
	holder   string    // the last holder a follower saw, for the logs
}

// New creates the bucket if it does not exist yet. A bucket that exists with another TTL is
// an error: a candidate that believed a longer lease than the bucket keeps would break the
// bound, so every candidate must agree (delete the bucket to change the TTL).
func New(ctx context.Context, js jetstream.JetStream, opts Options) (*Election, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      opts.Bucket,
		Description: "dormant: leadership leases of the services' once-per-cluster work",
		History:     1,
		TTL:         opts.TTL,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, opts.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("leader: bucket %s: %w", opts.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("leader: bucket %s: %w", opts.Bucket, err)
	}
	if st.TTL() != opts.TTL {
		return nil, fmt.Errorf("leader: bucket %s keeps leases for %s but this candidate's ttl is %s: give every replica the same ttl, or delete the bucket while none runs", opts.Bucket, st.TTL(), opts.TTL)
	}
	e := &Election{kv: kv, opts: opts, log: opts.Log.With(zap.String("election", opts.Name), zap.String("candidate", opts.ID))}
	e.metrics = NewMetrics(opts.Registry, opts.Name)
	return e, nil
}

// ID is this candidate's id, the lease's value while it leads.
func (e *Election) ID() string { return e.opts.ID }

// Valid reports whether this candidate holds the lease now, by its monotonic clock.
func (e *Election) Valid() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.until.IsZero() && time.Now().Before(e.until)
}

// Holder returns the lease's current holder as NATS has it ("" when nobody holds it).
func (e *Election) Holder(ctx context.Context) (string, error) {
	en, err := e.kv.Get(ctx, e.opts.Name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(en.Value()), nil
}

// Run campaigns until ctx ends (see Candidate). On the way out it stops the work first and
// then gives the lease up, so the next leader starts without waiting for the TTL.
func (e *Election) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	freed := e.watch(ctx)
	e.log.Info("campaigning", zap.String("bucket", e.opts.Bucket), zap.Duration("ttl", e.opts.TTL),
		zap.Duration("renew", e.opts.Renew), zap.Duration("retry", e.opts.Retry))
	failing := false
	for {
		won, err := e.acquire(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil && !failing:
			// Logged once per outage: NATS being away is also what the health check says.
			e.log.Warn("cannot reach the lease; will keep trying", zap.Error(err))
			failing = true
		case err == nil:
			failing = false
		}
		if won {
			if err := e.lead(ctx, lead); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
		}
		t := time.NewTimer(e.opts.Retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-freed:
			t.Stop()
		case <-t.C:
		}
	}
}

// acquire takes the lease when it is free, or when NATS still has this candidate as its
// holder (a renewal whose answer was lost: nobody else can have written the key since).
func (e *Election) acquire(ctx context.Context) (bool, error) {
	rctx, cancel := context.WithTimeout(ctx, e.opts.Renew)
	defer cancel()
	start := time.Now()
	rev, err := e.kv.Create(rctx, e.opts.Name, []byte(e.opts.ID))
	if err == nil {
		e.hold(rev, start, "")
		return true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, fmt.Errorf("take lease %s: %w", e.opts.Name, err)
	}
	en, err := e.kv.Get(rctx, e.opts.Name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil // expired between the two calls: the next attempt may win
	}
	if err != nil {
		return false, fmt.Errorf("read lease %s: %w", e.opts.Name, err)
	}
	holder := string(en.Value())
	if holder != e.opts.ID {
		e.follow(holder)
		return false, nil
	}
	start = time.Now()
	rev, err = e.kv.Update(rctx, e.opts.Name, []byte(e.opts.ID), en.Revision())
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take back lease %s: %w", e.opts.Name, err)
	}
	e.hold(rev, start, " (taken back: NATS still had it as ours)")
	return true, nil
}

func (e *Election) hold(rev uint64, start time.Time, how string) {
	e.mu.Lock()
	e.until, e.revision, e.holder = start.Add(e.opts.TTL-e.opts.Skew), rev, e.opts.ID
	e.mu.Unlock()
	e.metrics.leading(true)
	e.log.Info("leading"+how, zap.Uint64("revision", rev))
}

func (e *Election) follow(holder string) {
	e.mu.Lock()
	changed := holder != e.holder
	e.holder = holder
	e.mu.Unlock()
	if changed {
		e.log.Info("following", zap.String("leader", holder))
	}
}

// drop ends the lease locally: Valid is false from here on, whatever the key says.
func (e *Election) drop(reason string) {
	e.mu.Lock()
	e.until = time.Time{}
	e.mu.Unlock()
	e.metrics.leading(false)
	e.log.Warn("stepped down", zap.String("reason", reason))
}

// lead runs the work while renewing the lease, and ends it when ctx ends (returning lead's
// error, if any) or when the lease is lost (returning nil: the candidate campaigns again).
func (e *Election) lead(ctx context.Context, lead func(ctx context.Context) error) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- lead(lctx) }()
	stop := func() error {
		cancel()
		if done == nil {
			return nil
		}
		err := <-done
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return err
	}
	next := time.NewTimer(e.opts.Renew)
	defer next.Stop()
	for {
		e.mu.Lock()
		until := e.until
		e.mu.Unlock()
		expire := time.NewTimer(time.Until(until))
		select {
		case <-ctx.Done():
			expire.Stop()
			err := stop()
			e.release()
			return err
		case err := <-done:
			expire.Stop()
			done = nil
			if err != nil && !errors.Is(err, context.Canceled) {
				e.release()
				return err
			}
			// The work ended by itself (nothing to do here): keep the lease, so that the other
			// candidates do not start it only to find the same.
		case <-expire.C:
			e.drop("the lease ran out before it could be renewed")
			return stop()
		case <-next.C:
			expire.Stop()
			lost, err := e.renew(ctx, until)
			switch {
			case lost != "":
				e.drop(lost)
				return stop()
			case err != nil && ctx.Err() == nil:
				e.metrics.renewFailures.Inc()
				e.log.Warn("lease renewal failed; will retry until the lease runs out", zap.Time("lease_ends", until), zap.Error(err))
				next.Reset(e.opts.Retry)
			default:
				next.Reset(e.opts.Renew)
			}
		}
	}
}

// renew extends the lease. lost says why the lease is gone for good (somebody else wrote the
// key); err is a failure a retry may cure.
func (e *Election) renew(ctx context.Context, until time.Time) (lost string, err error) {
	// Past until the answer no longer matters: the lease has run out either way.
	rctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	e.mu.Lock()
	rev := e.revision
	e.mu.Unlock()
	for attempt := 0; ; attempt++ {
		start := time.Now()
		newRev, err := e.kv.Update(rctx, e.opts.Name, []byte(e.opts.ID), rev)
		if err == nil {
			e.mu.Lock()
			e.until, e.revision = start.Add(e.opts.TTL-e.opts.Skew), newRev
			e.mu.Unlock()
			return "", nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) || attempt > 0 {
			return "", err
		}
		// The key moved on. If it still names this candidate, an earlier renewal landed but
		// its answer was lost: carry on from its revision. Anything else: the lease is gone.
		en, gerr := e.kv.Get(rctx, e.opts.Name)
		switch {
		case errors.Is(gerr, jetstream.ErrKeyNotFound):
			return "the lease key expired or was deleted", nil
		case gerr != nil:
			return "", gerr
		case string(en.Value()) != e.opts.ID:
			return fmt.Sprintf("%s holds the lease now", en.Value()), nil
		}
		rev = en.Revision()
	}
}

// release gives the lease up after the work has stopped: Valid turns false first, then the
// key is deleted at the revision this candidate wrote, so a lease somebody else has taken
// meanwhile is left alone.
func (e *Election) release() {
	e.mu.Lock()
	held := !e.until.IsZero() && time.Now().Before(e.until)
	e.until = time.Time{}
	rev := e.revision
	e.mu.Unlock()
	e.metrics.leading(false)
	if !held {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.Renew)
	defer cancel()
	if err := e.kv.Delete(ctx, e.opts.Name, jetstream.LastRevision(rev)); err != nil {
		e.log.Warn("could not give the lease up; the others take over when it expires", zap.Duration("ttl", e.opts.TTL), zap.Error(err))
		return
	}
	e.log.Info("gave the lease up")
}

// watch reports deletions of the lease key, so that followers take over at once after a
// graceful stop. Without a watch (it failed to start) followers still poll every Retry.
func (e *Election) watch(ctx context.Context) <-chan struct{} {
	freed := make(chan struct{}, 1)
	w, err := e.kv.Watch(ctx, e.opts.Name, jetstream.UpdatesOnly())
	if err != nil {
		e.log.Warn("cannot watch the lease; followers will only poll", zap.Duration("every", e.opts.Retry), zap.Error(err))
		return freed
	}
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case en, ok := <-w.Updates():
				if !ok {
					return
				}
				if en == nil || (en.Operation() != jetstream.KeyValueDelete && en.Operation() != jetstream.KeyValuePurge) {
					continue
				}
				select {
				case freed <- struct{}{}:
				default:
				}
			}
		}
	}()
	return freed
}

// Solo is the candidate of a process that is alone by construction (the all-in-one binary on
// its embedded NATS): it always leads.
type Solo struct {
	metrics *Metrics
}

// NewSolo returns a Solo whose metrics say it leads.
func NewSolo(reg prometheus.Registerer, name string) *Solo {
	return &Solo{metrics: NewMetrics(reg, name)}
}

// Valid is always true.
func (*Solo) Valid() bool { return true }

// Run runs lead until ctx ends.
func (s *Solo) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	s.metrics.leading(true)
	defer s.metrics.leading(false)
	err := lead(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Metrics are an election's gauges and counters, labelled with its name.
type Metrics struct {
	isLeader      prometheus.Gauge
	transitions   *prometheus.CounterVec
	renewFailures prometheus.Counter
	mu            sync.Mutex
	leader        bool
}

// NewMetrics registers an election's metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer, name string) *Metrics {
	// The label map is spelt out at each metric, not shared through a variable, so
	// deploy/deploytest can read the label names from the source and check the alerts.
	m := &Metrics{
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dormant_leader_is_leader", ConstLabels: prometheus.Labels{"election": name},
			Help: "1 while this process holds the election's lease and runs its once-per-cluster work.",
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_leader_transitions_total", ConstLabels: prometheus.Labels{"election": name},
			Help: "Times this process became leader (to=leader) or stopped leading (to=follower).",
		}, []string{"to"}),
		renewFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dormant_leader_renew_failures_total", ConstLabels: prometheus.Labels{"election": name},
			Help: "Lease renewals that failed and were retried (NATS unreachable or slow).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.isLeader, m.transitions, m.renewFailures)
	}
	return m
}

func (m *Metrics) leading(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if on == m.leader {
		return
	}
	m.leader = on
	if on {
		m.isLeader.Set(1)
		m.transitions.WithLabelValues("leader").Inc()
	} else {
		m.isLeader.Set(0)
		m.transitions.WithLabelValues("follower").Inc()
	}
}
