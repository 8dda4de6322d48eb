// Package service runs the policy service: its projection of users (built from login
// records and roster syncs), and the decisions it takes on clock ticks.
package service

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/platform/leader"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/actuator"
	"github.com/dormant-dev/dormant/services/policy/admin"
	"github.com/dormant-dev/dormant/services/policy/handover"
	"github.com/dormant-dev/dormant/services/policy/postgres"
	"github.com/dormant-dev/dormant/services/policy/requests"
	"github.com/dormant-dev/dormant/services/policy/sqlite"
)

// Deps are the connections the policy component uses; the all-in-one binary shares them.
type Deps struct {
	Log      *zap.Logger
	JS       jetstream.JetStream
	NS       events.Namespace
	DB       *sqldb.DB
	Sites    *siteconfig.File
	Registry prometheus.Registerer
	// Leader decides whether this process runs the once-per-cluster work (roster sync,
	// actuator, notifier): an Election (Elect) when other replicas may run; nil when the
	// process is alone by construction (the all-in-one on its embedded NATS), which leads.
	Leader leader.Candidate
}

// Policy is the policy component.
type Policy struct {
	log     *zap.Logger
	js      jetstream.JetStream
	ns      events.Namespace
	store   policy.Store
	opts    Options
	sites   map[string]bool
	records jetstream.Consumer
	metrics *metrics
	// sites' OpenMRS clients, nil for a site without credentials configured.
	openmrs map[string]*openmrs.Client
	// components run beside the records consumer (clock, decisions, activity feed, ...) in
	// every replica. Each is added in its own file's constructor, called from New.
	components []component
	// singletons are the components that must run in one replica at a time (roster sync,
	// actuator, notifier): they run while this replica leads (leader.go).
	singletons []component
	// leader is this replica's candidacy, and the lease the singletons' guards check.
	leader leader.Candidate
	// engine takes the decisions on ticks, approvals, exemptions and what-if (decide.go).
	engine *engine
	// reactivator unretires users for the admin page (actuator.go).
	reactivator *actuator.Reactivator
	// actuatorStore holds what the actuator did, for the admin page (actuator.go).
	actuatorStore *actuator.Store
	// admin is the admin page and its JSON API (admin.go).
	admin *admin.Server
	// handover reads what users still hold in OpenMRS (handover.go).
	handover *handover.Reader
	// clock replaces the wall clock of actions (actuator.go: now); nil is time.Now.
	clock func() time.Time
	// requests holds the reactivation requests of the public page (requests.go).
	requests *requests.Store
}

// component is a long-running part of the policy service.
type component interface {
	// Run works until ctx ends, finishing what it has in flight.
	Run(ctx context.Context) error
}

// New opens the store (migrating it) and creates the durable consumers. Nothing is
// consumed until Run.
func New(ctx context.Context, d Deps, opts Options) (*Policy, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	p := &Policy{log: d.Log.Named("policy"), js: d.JS, ns: d.NS, opts: opts, sites: map[string]bool{}, leader: d.Leader}
	if p.leader == nil {
		p.leader = leader.NewSolo(d.Registry, ElectionName)
	}
	for _, s := range d.Sites.Sites {
		p.sites[s.ID] = true
	}
	var err error
	if p.openmrs, err = openmrsClients(d.Sites, p.log); err != nil {
		return nil, err
	}
	store, err := OpenStore(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	p.store = store
	p.records, err = d.JS.CreateOrUpdateConsumer(ctx, d.NS.StreamRecords(), jetstream.ConsumerConfig{
		Durable:       opts.RecordsConsumer,
		Description:   "policy: login records and roster syncs into the policy projection",
		FilterSubject: d.NS.RecordsAll(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxAckPending: 10 * opts.BatchSize,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", opts.RecordsConsumer, err)
	}
	p.metrics = newMetrics(d.Registry)
	if err := p.addDecisions(ctx, d); err != nil {
		return nil, err
	}
	if err := p.addActuator(ctx, d); err != nil {
		return nil, err
	}
	if err := p.addHandover(); err != nil {
		return nil, err
	}
	if err := p.addNotifier(ctx, d); err != nil {
		return nil, err
	}
	if err := p.addRosterSync(ctx, d); err != nil {
		return nil, err
	}
	if err := p.addRequests(ctx, d.DB); err != nil {
		return nil, err
	}
	if err := p.addAdmin(d); err != nil {
		return nil, err
	}
	return p, nil
}

// OpenStore opens the policy store on the engine db uses.
func OpenStore(ctx context.Context, db *sqldb.DB) (policy.Store, error) {
	switch db.Engine() {
	case sqldb.Postgres:
		return postgres.Open(ctx, db)
	case sqldb.SQLite:
		return sqlite.Open(ctx, db)
	default:
		return nil, fmt.Errorf("policy store: unsupported engine %s", db.Engine())
	}
}

// Store gives read access to the projection (operators' commands, the admin page, tests).
func (p *Policy) Store() policy.Store { return p.store }

// Routes adds the policy service's HTTP routes to mux: the admin page and its JSON API.
func (p *Policy) Routes(mux *http.ServeMux) { p.admin.Routes(mux) }

// Run consumes and runs every component until ctx ends, then lets each finish what it has
// in flight and returns.
func (p *Policy) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		p.log.Info("consuming records", zap.String("stream", p.ns.StreamRecords()), zap.String("consumer", p.opts.RecordsConsumer))
		return natsbus.ConsumeBatches(gctx, p.records, natsbus.BatchOptions{
			Size:    p.opts.BatchSize,
			MaxWait: p.opts.BatchWait,
			OnError: func(err error) { p.log.Error("records batch failed; will be redelivered", zap.Error(err)) },
		}, p.applyRecords)
	})
	for _, c := range p.components {
		g.Go(func() error { return c.Run(gctx) })
	}
	if len(p.singletons) > 0 {
		g.Go(func() error { return p.runSingletons(gctx) })
	}
	return g.Wait()
}

// Close releases the store.
func (p *Policy) Close() error {
	if p.requests != nil {
		_ = p.requests.Close()
	}
	return p.store.Close()
}

// applyRecords folds login records and roster syncs into the projection. Each apply is
// idempotent (the last login only moves forward, a sync overwrites with the same facts), so a
// redelivered batch changes nothing.
func (p *Policy) applyRecords(ctx context.Context, msgs []jetstream.Msg) error {
	for _, m := range msgs {
		reason, err := p.applyRecord(ctx, m)
		if err != nil && reason == "" {
			return err
		}
		if err != nil {
			if err := natsbus.PublishDeadLetter(ctx, p.js, p.ns.DLQ("records"), natsbus.DeadLetterFrom(m, reason, err.Error())); err != nil {
				return err
			}
			p.metrics.deadLetters.WithLabelValues(reason).Inc()
			p.log.Warn("record refused", zap.String("reason", reason), zap.Error(err))
		}
		if err := m.Ack(); err != nil {
			p.log.Warn("ack failed; the record will be redelivered", zap.Error(err))
		}
	}
	return nil
}

// applyRecord returns a reason with an error for bad input (dead-lettered), and an error
// alone for a failure that a retry may cure.
func (p *Policy) applyRecord(ctx context.Context, m jetstream.Msg) (reason string, err error) {
	ev, err := events.FromNATS(m.Headers(), m.Data())
	if err != nil {
		return events.ReasonOf(err), err
	}
	d, err := events.Decode(ev)
	if err != nil {
		return events.ReasonOf(err), err
	}
	site := events.Site(ev)
	if !p.sites[site] {
		return "unknown_site", fmt.Errorf("site %q is not configured", site)
	}
	if subjectSite, _ := events.SiteFromSubject(m.Subject()); subjectSite != site {
		// The subject is what a publisher's permissions allow: a record claiming another
		// site inside it is misrouted or forged, and must not touch that site's projection.
		return "site_mismatch", fmt.Errorf("record for site %q published on %s", site, m.Subject())
	}
	switch r := d.(type) {
	case *events.LastLoginRecorded:
		moved, err := p.store.RecordLogin(ctx, site, r.UserUUID, r.Username, r.LastLoginAt)
		if err != nil {
			return "", err
		}
		p.metrics.applied.WithLabelValues(site, "lastlogin", fmt.Sprint(moved)).Inc()
	case *events.UserSynced:
		err := p.store.SyncUser(ctx, policy.User{
			Site: site, UUID: r.UserUUID, Username: r.Username, SystemID: r.SystemID,
			GivenName: r.GivenName, FamilyName: r.FamilyName, Email: r.Email, Roles: r.Roles,
			Properties: r.Properties, CreatedAt: r.CreatedAt.UTC(), Retired: r.Retired,
		})
		if err != nil {
			return "", err
		}
		p.metrics.applied.WithLabelValues(site, "user", "true").Inc()
	case *events.LoginFailed:
		if err := p.engine.failedLogin(ctx, site, ev, r); err != nil {
			return "", err
		}
		p.metrics.applied.WithLabelValues(site, "failed-login", "false").Inc()
	default:
		return "unexpected_type", fmt.Errorf("event type %s does not belong on the records stream", ev.Type())
	}
	return "", nil
}

type metrics struct {
	applied     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_policy_records_applied_total",
			Help: "Records folded into the policy projection, by site, kind (lastlogin, user, failed-login) and whether they changed it.",
		}, []string{"site", "kind", "changed"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_policy_dead_letters_total",
			Help: "Records the policy service could not use, sent to the DLQ, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.applied, m.deadLetters)
	return m
}
