package roster_test

import (
	"context"
	"fmt"
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
	"github.com/dormant-dev/dormant/services/policy/roster"
)

const site = "clinic-a"

// world is one test's fake OpenMRS, NATS subject root, roster store and client.
type world struct {
	t      testing.TB
	ctx    context.Context
	fake   *openmrstest.Server
	client *openmrs.Client
	js     jetstream.JetStream
	ns     events.Namespace
	db     *sqldb.DB
	store  *roster.Store
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := t.Context()
	js, root := infratest.Bus(t)
	db, err := sqldb.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	store, err := roster.OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	w := &world{t: t, ctx: ctx, fake: fake, js: js, ns: events.Namespace{Root: root}, db: db, store: store}
	w.client = w.newClient("admin", "Admin123")
	return w
}

func (w *world) newClient(user, password string) *openmrs.Client {
	w.t.Helper()
	c, err := openmrs.New(openmrs.Config{BaseURL: w.fake.URL(), Username: user, Password: password,
		MaxRetries: 2, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Timeout: 10 * time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// addUsers seeds n users named prefix-0..n-1 and returns their uuids.
func (w *world) addUsers(prefix string, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = w.fake.AddUser(openmrstest.UserSpec{
			Username: fmt.Sprintf("%s-%d", prefix, i), GivenName: "Given" + fmt.Sprint(i), FamilyName: "Family",
			Roles: []string{"Provider"}, Properties: map[string]string{"defaultLocation": "1"},
			Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		})
	}
	return out
}

func (w *world) syncer(src roster.Source, opts roster.Options) *roster.Syncer {
	return roster.NewSyncer(site, src, w.js, w.ns, w.store, zap.NewNop(), nil, opts)
}

// synced reads every dormant.user.synced event stored for the site, each checked against its
// schema.
func (w *world) synced() []*events.UserSynced {
	w.t.Helper()
	evs := published(w.t, w.ctx, w.js, w.ns.StreamRecords(), w.ns.UserSynced(site))
	out := make([]*events.UserSynced, len(evs))
	for i, ev := range evs {
		d, err := events.Decode(ev)
		if err != nil {
			w.t.Fatal(err)
		}
		out[i] = d.(*events.UserSynced)
	}
	return out
}

func published(t testing.TB, ctx context.Context, js jetstream.JetStream, stream, subject string) []cloudevents.Event {
	t.Helper()
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []cloudevents.Event
	for pending := int(info.NumPending); pending > 0; {
		batch, err := c.Fetch(min(pending, 5000), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			ev, err := events.FromNATS(m.Headers(), m.Data())
			if err != nil {
				t.Fatal(err)
			}
			eventstest.AssertMatchesSchema(t, ev)
			out = append(out, ev)
			n++
		}
		if n == 0 {
			t.Fatalf("%s: %d events pending but none fetched", subject, pending)
		}
		pending -= n
	}
	return out
}

// byUser counts events per user uuid.
func byUser(evs []*events.UserSynced) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		out[e.UserUUID]++
	}
	return out
}

// stopAfter cancels the sync's context once the listing reaches index at, as a process killed
// mid-sync would stop.
type stopAfter struct {
	*openmrs.Client
	at     int
	cancel context.CancelFunc
}

func (s stopAfter) EachUser(ctx context.Context, pageSize, startIndex int, fn func(openmrs.User, int) error) error {
	return s.Client.EachUser(ctx, pageSize, startIndex, func(u openmrs.User, i int) error {
		if i >= s.at {
			s.cancel()
		}
		return fn(u, i)
	})
}

// failFrom makes OpenMRS answer 503 to every GET /user once the listing reaches index at.
type failFrom struct {
	*openmrs.Client
	fake *openmrstest.Server
	at   int
}

func (f failFrom) EachUser(ctx context.Context, pageSize, startIndex int, fn func(openmrs.User, int) error) error {
	return f.Client.EachUser(ctx, pageSize, startIndex, func(u openmrs.User, i int) error {
		if i == f.at {
			f.fake.InjectFault(openmrstest.Fault{Method: "GET", PathPrefix: "/user", Count: -1, Status: 503})
		}
		return fn(u, i)
	})
}
