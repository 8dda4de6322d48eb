package service

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/events/eventstest"
	ingest "github.com/dormant-dev/dormant/services/login-ingest"
	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

// The test sites: clinic-a and clinic-b are configured with tokens; "nowhere" is not.
const (
	siteA   = "clinic-a"
	siteB   = "clinic-b"
	tokenA  = "token-of-clinic-a-7f3e9c"
	tokenB  = "token-of-clinic-b-1d2c8a"
	unknown = "nowhere"
)

var t0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// fixedNow is the wall clock of every test: t0 plus a day, so logins at t0+h for small h are
// in the past and t0+25h is beyond the skew.
var fixedNow = t0.Add(24 * time.Hour)

func user(n int) string { return fmt.Sprintf("a3f1c2d4-0000-4000-8000-%012d", n) }

// rig is one test's slice of the machine: its own subject root and streams, its own database
// (a SQLite file or a PostgreSQL schema), the site configuration and a metrics registry.
type rig struct {
	t     *testing.T
	ctx   context.Context
	nc    *nats.Conn
	js    jetstream.JetStream
	ns    events.Namespace
	db    *sqldb.DB
	sites *siteconfig.File
	reg   *prometheus.Registry
	log   *zap.Logger
}

// engines are the two stores every service test runs on, with the same code.
var engines = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "ingest.db") }},
	{"postgres", func(t *testing.T) string { return testenv.Postgres(t) }},
}

// onEachEngine runs f once per store engine.
func onEachEngine(t *testing.T, f func(t *testing.T, r *rig)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { f(t, newRig(t, e.dsn(t))) })
	}
}

func newRig(t *testing.T, dsn string) *rig {
	t.Helper()
	nc, root := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	bus := infra.BusOptions{SubjectRoot: root, StreamReplicas: 1, DuplicateWindow: time.Minute}
	if err := infra.Provision(ctx, js, bus); err != nil {
		t.Fatal(err)
	}
	db, err := sqldb.Open(ctx, dsn, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	t.Setenv("TEST_TOKEN_A", tokenA)
	t.Setenv("TEST_TOKEN_B", tokenB)
	sites, err := siteconfig.Parse([]byte(fmt.Sprintf(`sites:
  - id: %s
    ingest_token_env: TEST_TOKEN_A
  - id: %s
    ingest_token_env: TEST_TOKEN_B
`, siteA, siteB)))
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, ctx: ctx, nc: nc, js: js, ns: bus.Namespace(), db: db, sites: sites, log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
}

// options are fast-moving pipeline options: small batches, so a handful of events spans
// several, and a short ack wait, so a "killed" consumer's events come back quickly.
func (r *rig) options() Options {
	o := DefaultOptions()
	o.Consumer = "ingest-test"
	o.BatchSize = 3
	o.BatchWait = 50 * time.Millisecond
	o.AckWait = time.Second
	return o
}

// deps are the rig's dependencies on connection nc (the rig's own when nil).
func (r *rig) deps(nc *nats.Conn) Deps {
	js := r.js
	if nc != nil {
		var err error
		if js, err = jetstream.New(nc); err != nil {
			r.t.Fatal(err)
		}
	}
	// A registry per component, as per process: r.reg is the latest, for tests that scrape.
	r.reg = prometheus.NewRegistry()
	return Deps{Log: r.log, JS: js, NS: r.ns, DB: r.db, Sites: r.sites, Registry: r.reg, Now: func() time.Time { return fixedNow }}
}

// start creates an Ingest and runs it until the test ends (or stop is called); stop waits
// for Run to return and gives its error.
func (r *rig) start(d Deps, o Options) (in *Ingest, stop func() error) {
	r.t.Helper()
	in, err := New(r.ctx, d, o)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	var res error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			res = <-done
		}
		return res
	}
	r.t.Cleanup(func() { _ = stop() })
	return in, stop
}

// dial opens a connection of its own, for an Ingest the test will "kill".
func (r *rig) dial() *nats.Conn {
	nc, err := nats.Connect(testenv.NATSURL())
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(nc.Close)
	return nc
}

// session builds an authentication event; id "" derives one from the rest.
func session(t *testing.T, site, kind, status, uuid, username string, at time.Time, id string) cloudevents.Event {
	t.Helper()
	if id == "" {
		id = events.DerivedID("test", site, kind, status, uuid, username, at.String())
	}
	ev, err := events.New("http://openmrs.test/openmrs", site, &events.UserSession{
		Event: kind, Status: status, UserUUID: uuid, Username: username, OccurredAt: at, Method: events.MethodForm,
	}, id, at)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func loginEv(t *testing.T, site, uuid string, at time.Time) cloudevents.Event {
	return session(t, site, events.EventLogin, events.StatusSuccess, uuid, "name-"+uuid[len(uuid)-4:], at, "")
}

// publishEv publishes ev on subject as a NATS publisher would.
func (r *rig) publishEv(subject string, ev cloudevents.Event) {
	r.t.Helper()
	msg, err := events.ToNATS(subject, ev)
	if err != nil {
		r.t.Fatal(err)
	}
	r.publish(msg)
}

func (r *rig) publish(msg *nats.Msg) {
	r.t.Helper()
	if _, err := r.js.PublishMsg(r.ctx, msg); err != nil {
		r.t.Fatalf("publish on %s: %v", msg.Subject, err)
	}
}

// settled waits until the durable consumer has handed out and seen acked everything in
// the auth stream.
func (r *rig) settled(consumer string) {
	r.t.Helper()
	waitFor(r.t, "the consumer to ack every event", func() bool {
		c, err := r.js.Consumer(r.ctx, r.ns.StreamAuth(), consumer)
		if err != nil {
			return false
		}
		info, err := c.Info(r.ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream > 0
	})
}

// messages returns every message on subject in stream, oldest first.
func (r *rig) messages(stream, subject string) []jetstream.Msg {
	r.t.Helper()
	st, err := r.js.Stream(r.ctx, stream)
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := st.Info(r.ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		r.t.Fatal(err)
	}
	want := 0
	for _, n := range info.State.Subjects {
		want += int(n)
	}
	if want == 0 {
		return nil
	}
	cons, err := st.OrderedConsumer(r.ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		r.t.Fatal(err)
	}
	var out []jetstream.Msg
	for len(out) < want {
		b, err := cons.Fetch(want-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			r.t.Fatal(err)
		}
		n := len(out)
		for m := range b.Messages() {
			out = append(out, m)
		}
		if len(out) == n {
			r.t.Fatalf("read %d of %d messages on %s", n, want, subject)
		}
	}
	return out
}

// emitted decodes every event on subject in stream, checking each against its schema.
func (r *rig) emitted(stream, subject string) []cloudevents.Event {
	r.t.Helper()
	var out []cloudevents.Event
	for _, m := range r.messages(stream, subject) {
		ev, err := events.FromNATS(m.Headers(), m.Data())
		if err != nil {
			r.t.Fatal(err)
		}
		eventstest.AssertMatchesSchema(r.t, ev)
		out = append(out, ev)
	}
	return out
}

// recorded returns the dormant.lastlogin.recorded events of site, per user in order.
func (r *rig) recorded(site string) map[string][]*events.LastLoginRecorded {
	r.t.Helper()
	out := map[string][]*events.LastLoginRecorded{}
	seen := map[string]bool{}
	for _, ev := range r.emitted(r.ns.StreamRecords(), r.ns.LastLogin(site)) {
		if seen[ev.ID()] {
			r.t.Errorf("record event %s published twice", ev.ID())
		}
		seen[ev.ID()] = true
		d, err := events.DecodeAs[*events.LastLoginRecorded](ev)
		if err != nil {
			r.t.Fatal(err)
		}
		out[d.UserUUID] = append(out[d.UserUUID], d)
	}
	return out
}

// lastLogin is the stored last login of uuid at site (zero when none).
func (r *rig) lastLogin(in *Ingest, site, uuid string) time.Time {
	r.t.Helper()
	rec, err := in.Store().LastLogin(r.ctx, site, uuid)
	if err != nil {
		return time.Time{}
	}
	return rec.LastLoginAt
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func times(rs []*events.LastLoginRecorded) []time.Time {
	out := make([]time.Time, len(rs))
	for i, r := range rs {
		out[i] = r.LastLoginAt
	}
	return out
}

// openStore opens the rig's store for reading, as an operator's command would.
func (r *rig) openStore() ingest.Store {
	r.t.Helper()
	s, err := OpenStore(r.ctx, r.db)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}
