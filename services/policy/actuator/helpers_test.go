package actuator

import (
	"context"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/events/eventstest"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/platform/infra/infratest"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/sqlite"
)

const site = "clinic-a"

// world is one site's fake OpenMRS, a real NATS subject root, a SQLite database with the
// policy projection and the actuator's store, and an actuator running on them.
type world struct {
	t      testing.TB
	ctx    context.Context
	fake   *openmrstest.Server
	client *openmrs.Client
	js     jetstream.JetStream
	ns     events.Namespace
	db     *sqldb.DB
	proj   *sqlite.Store
	store  *Store
	opts   Options
	// policies, when set, gives the actuator the sites' effective policies (Deps.Policies).
	policies Policies
	running  []context.CancelFunc
	wg       sync.WaitGroup
}

func testOptions() Options {
	return Options{Consumer: "actuator", Rate: 1000, Concurrency: 4, MaxAttempts: 3,
		RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond, AckWait: time.Second}
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	js, root := infratest.Bus(t)
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	fake.AddRole("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivEditUsers, openmrstest.PrivManageAlerts)
	fake.AddUser(openmrstest.UserSpec{Username: "dormant", Password: "Dormant123", GivenName: "Dormant", FamilyName: "Service", Roles: []string{"Dormant"}})
	client, err := openmrs.New(openmrs.Config{BaseURL: fake.URL(), Username: "dormant", Password: "Dormant123",
		BaseBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqldb.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	proj, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, fake: fake, client: client, js: js, ns: events.Namespace{Root: root}, db: db, proj: proj, store: store, opts: testOptions()}
	t.Cleanup(w.stop)
	return w
}

// start runs an actuator instance; crashAt, when set, is its crash seam.
func (w *world) start(crashAt func(string)) *Actuator {
	w.t.Helper()
	a, err := New(w.ctx, Deps{
		Log: zap.NewNop(), JS: w.js, NS: w.ns, Store: w.store, Projection: w.proj,
		Sites:    []Site{{ID: site, Client: w.client, Guard: GuardFor("dormant", policy.DefaultPolicy())}},
		Policies: w.policies,
	}, w.opts)
	if err != nil {
		w.t.Fatal(err)
	}
	a.crashAt = crashAt
	ctx, cancel := context.WithCancel(w.ctx)
	w.running = append(w.running, cancel)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if err := a.Run(ctx); err != nil {
			w.t.Errorf("actuator: %v", err)
		}
	}()
	return a
}

func (w *world) stop() {
	for _, c := range w.running {
		c()
	}
	w.wg.Wait()
}

// user seeds an OpenMRS user and its projection row; lastLogin may be zero (never seen).
func (w *world) user(spec openmrstest.UserSpec, lastLogin time.Time) string {
	w.t.Helper()
	id := w.fake.AddUser(spec)
	u := policy.User{Site: site, UUID: id, Username: spec.Username, Email: spec.Email, Roles: spec.Roles, CreatedAt: time.Now().UTC().Add(-365 * 24 * time.Hour), Retired: spec.Retired}
	if err := w.proj.SyncUser(w.ctx, u); err != nil {
		w.t.Fatal(err)
	}
	if !lastLogin.IsZero() {
		if _, err := w.proj.RecordLogin(w.ctx, site, id, spec.Username, lastLogin); err != nil {
			w.t.Fatal(err)
		}
	}
	return id
}

// request publishes a deactivation request as the decision engine would.
func (w *world) request(d events.DeactivationRequested) {
	w.t.Helper()
	if d.Rule == "" {
		d.Rule = policy.RuleInactiveAfter
	}
	if d.Reason == "" {
		d.Reason = "dormant: no login for 90 days"
	}
	if d.PolicyVersion == "" {
		d.PolicyVersion = "v1"
	}
	if d.DecidedAt.IsZero() {
		d.DecidedAt = time.Now().UTC()
	}
	ev, err := events.New(events.SourceFor("policy", site), site, &d, d.DecisionID, d.DecidedAt)
	if err != nil {
		w.t.Fatal(err)
	}
	msg, err := events.ToNATS(w.ns.DeactivationRequested(site), ev)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.js.PublishMsg(w.ctx, msg); err != nil {
		w.t.Fatal(err)
	}
}

// outcome waits for the actuator's record of a decision.
func (w *world) outcome(decisionID string) Record {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r, ok, err := w.store.Decision(w.ctx, site, decisionID)
		if err != nil {
			w.t.Fatal(err)
		}
		if ok {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.t.Fatalf("decision %s: no outcome recorded", decisionID)
	return Record{}
}

// published reads every event stored on a subject so far, each checked against its schema.
func (w *world) published(stream, subject string) []cloudevents.Event {
	w.t.Helper()
	c, err := w.js.OrderedConsumer(w.ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		w.t.Fatal(err)
	}
	info, err := c.Info(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []cloudevents.Event
	for pending := int(info.NumPending); pending > 0; {
		batch, err := c.Fetch(pending, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			w.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			ev, err := events.FromNATS(m.Headers(), m.Data())
			if err != nil {
				w.t.Fatal(err)
			}
			eventstest.AssertMatchesSchema(w.t, ev)
			out = append(out, ev)
			n++
		}
		if n == 0 {
			w.t.Fatalf("%s: %d events pending but none fetched", subject, pending)
		}
		pending -= n
	}
	return out
}

// retires counts the retire requests that reached OpenMRS for a user.
func (w *world) retires(uuid string) int {
	n := 0
	for _, r := range w.fake.Retirements() {
		if r.UUID == uuid && r.Action == "retire" {
			n++
		}
	}
	return n
}

func decode[T events.Data](t testing.TB, ev cloudevents.Event) T {
	t.Helper()
	d, err := events.DecodeAs[T](ev)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
