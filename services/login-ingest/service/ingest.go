// Package service runs login-ingest: it consumes authentication events from NATS (and accepts
// them over HTTP from the OpenMRS hook), stores last logins, and publishes
// dormant.lastlogin.recorded for every user whose last login moved.
package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	ingest "github.com/dormant-dev/dormant/services/login-ingest"
	"github.com/dormant-dev/dormant/services/login-ingest/postgres"
	"github.com/dormant-dev/dormant/services/login-ingest/sqlite"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
)

// Deps are the connections login-ingest uses; the all-in-one binary shares them between
// components.
type Deps struct {
	Log      *zap.Logger
	JS       jetstream.JetStream
	NS       events.Namespace
	DB       *sqldb.DB
	Sites    *siteconfig.File
	Registry prometheus.Registerer
	// Now is the wall clock, replaceable in tests of the clock-skew rule.
	Now func() time.Time
}

// Ingest is the login-ingest component.
type Ingest struct {
	log     *zap.Logger
	js      jetstream.JetStream
	ns      events.Namespace
	store   ingest.Store
	opts    Options
	now     func() time.Time
	sites   map[string]bool
	tokens  *tokenSet
	cons    jetstream.Consumer
	metrics *metrics
	// pub publishes the batch's events; its async window is sized for a whole batch, so
	// putting a batch in flight never stalls on the client's limit.
	pub   jetstream.JetStream
	hooks hooks
}

// hooks let tests stop a batch at the points where a crash matters. Nil in production.
type hooks struct {
	// afterCommit runs once the batch's transaction has committed, before anything is
	// published; beforeAck once every event is published, before the acks.
	afterCommit, beforeAck func() error
}

// New opens the store (migrating it) and creates the durable consumer on the provisioned
// auth stream (infra.Provision). Nothing is consumed until Run.
func New(ctx context.Context, d Deps, opts Options) (*Ingest, error) {
	in, err := open(ctx, d, opts)
	if err != nil {
		return nil, err
	}
	ns := in.ns
	cons, err := d.JS.CreateOrUpdateConsumer(ctx, ns.StreamAuth(), jetstream.ConsumerConfig{
		Durable:       opts.Consumer,
		Description:   "login-ingest: authentication events to last-login records",
		FilterSubject: ns.AuthAll(),
		// Explicit acks, not AckAll: replicas share the consumer, and acking the last
		// message of one replica's batch must not ack another's in flight.
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxAckPending: opts.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// Redeliver forever: a database outage must delay records, never drop them.
		MaxDeliver: -1,
	})
	if err != nil {
		in.store.Close()
		return nil, fmt.Errorf("create consumer %s: %w", opts.Consumer, err)
	}
	in.cons = cons
	return in, nil
}

// open builds everything but the consumer: what replay shares with the live service.
func open(ctx context.Context, d Deps, opts Options) (*Ingest, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	in := &Ingest{log: d.Log.Named("ingest"), js: d.JS, ns: d.NS, opts: opts, now: d.Now, sites: map[string]bool{}}
	for _, s := range d.Sites.Sites {
		in.sites[s.ID] = true
	}
	if len(in.sites) == 0 {
		return nil, errors.New("no sites configured: login-ingest refuses events from unknown sites, so list at least one in DORMANT_CONFIG")
	}
	tokens, err := newTokenSet(d.Sites, in.log, d.Registry)
	if err != nil {
		return nil, err
	}
	in.tokens = tokens
	// A batch publishes up to one record per event plus its dead letters; HTTP requests
	// publish beside it. The default window (4000) would stall a large batch halfway.
	pub, err := jetstream.New(d.JS.Conn(), jetstream.WithPublishAsyncMaxPending(2*opts.BatchSize+4096))
	if err != nil {
		return nil, fmt.Errorf("jetstream publisher: %w", err)
	}
	in.pub = pub

	store, err := OpenStore(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	in.store = store
	in.metrics = newMetrics(d.Registry, in.pendingCount)
	return in, nil
}

// OpenStore opens the last-login store on the engine db uses.
func OpenStore(ctx context.Context, db *sqldb.DB) (ingest.Store, error) {
	switch db.Engine() {
	case sqldb.Postgres:
		return postgres.Open(ctx, db)
	case sqldb.SQLite:
		return sqlite.Open(ctx, db)
	default:
		return nil, fmt.Errorf("login-ingest store: unsupported engine %s", db.Engine())
	}
}

// Store gives read access to the last-login store (operators' commands, tests).
func (in *Ingest) Store() ingest.Store { return in.store }

// Close releases the store.
func (in *Ingest) Close() error { return in.store.Close() }

// Routes adds the HTTP intake to mux.
func (in *Ingest) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/events", in.serveEvents)
}

func (in *Ingest) pendingCount() float64 {
	if in.cons == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := in.cons.Info(ctx)
	if err != nil {
		return -1
	}
	return float64(info.NumPending)
}
