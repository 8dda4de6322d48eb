package service

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/events/eventstest"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
)

// memStream stands in for JetStream: it keeps each event id once, as the duplicate window
// does, so a republished decision shows as no new event.
type memStream struct {
	ids  map[string]string // id → subject
	data map[string]string
}

func (m *memStream) publish(_ context.Context, msgs []outMsg) error {
	for _, msg := range msgs {
		if _, dup := m.ids[msg.ev.ID()]; dup {
			continue
		}
		m.ids[msg.ev.ID()] = msg.subject
		m.data[msg.ev.ID()] = string(msg.ev.Data())
	}
	return nil
}

// record is one login record or roster sync as the records stream carries it.
type record struct {
	user  policy.User
	login *time.Time // a login record when set, else a roster sync
}

// world is a random site: users, their logins, and the day each record arrives.
type world struct {
	days    int
	records map[int][]record // by the day before whose tick they arrive
}

func randomWorld(seed uint64) world {
	r := rand.New(rand.NewPCG(seed, 0))
	w := world{days: 120, records: map[int][]record{}}
	for i := range 30 {
		u := policy.User{Site: "p", UUID: uid(1000 + i), Username: fmt.Sprintf("user%d", i), Roles: []string{}}
		createdDay := r.IntN(420) - 400
		if r.IntN(5) == 0 {
			u.Username = "test-" + u.Username // a demo account
		}
		u.CreatedAt = at(createdDay).Add(time.Duration(r.IntN(24)) * time.Hour)
		arrival := max(0, createdDay+1)
		w.records[arrival] = append(w.records[arrival], record{user: u})
		for range r.IntN(4) {
			d := createdDay + r.IntN(w.days+400-createdDay)
			l := at(d).Add(time.Duration(r.IntN(24*60)) * time.Minute)
			arrival := max(0, d+1)
			w.records[arrival] = append(w.records[arrival], record{user: u, login: &l})
		}
	}
	return w
}

const propertySites = `
sites:
  - id: p
    policy: {enabled: true, dry_run: false, feed_silence_window: 0, max_deactivations_per_tick: 2, max_deactivations_percent: 0}
`

// outcome is everything a run leaves behind: the projection, the history, the held batches
// and the events published.
type outcome struct {
	users   []policy.Candidate
	history []policy.HistoryEntry
	held    []policy.HeldBatch
	events  map[string]string
}

// TestReplaysDecideLikeAnInOrderRun: random record orders within a day, duplicated and
// replayed records, repeated and late ticks, crashes between publishing and committing a
// tick and restarts of the engine leave the same projection, history and events as a clean
// in-order run.
func TestReplaysDecideLikeAnInOrderRun(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			w := randomWorld(seed)
			want := run(t, w, nil)
			if len(want.events) == 0 || len(want.history) == 0 {
				t.Fatalf("the world decided nothing: the property would prove nothing")
			}
			got := run(t, w, rand.New(rand.NewPCG(seed, 99)))
			if !reflect.DeepEqual(got.users, want.users) {
				t.Errorf("projections differ")
			}
			if !reflect.DeepEqual(got.history, want.history) {
				t.Errorf("histories differ:\n%v\nwant\n%v", got.history, want.history)
			}
			if !reflect.DeepEqual(got.held, want.held) {
				t.Errorf("held batches differ")
			}
			if !reflect.DeepEqual(got.events, want.events) {
				t.Errorf("events differ: %d published, want %d", len(got.events), len(want.events))
			}
		})
	}
}

// run plays w; with r nil in order, otherwise with the disorder r draws.
func run(t *testing.T, w world, r *rand.Rand) outcome {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, filepath.Join(t.TempDir(), "p.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	sites, err := siteconfig.Parse([]byte(propertySites))
	if err != nil {
		t.Fatal(err)
	}
	stream := &memStream{ids: map[string]string{}, data: map[string]string{}}
	ns := events.Namespace{Root: "dormant"}
	newEng := func() *engine {
		e := newEngine(store, zap.NewNop(), sites.Sites, nil)
		e.ns, e.pub = ns, stream
		return e
	}
	e := newEng()
	apply := func(rec record) {
		if rec.login != nil {
			if _, err := store.RecordLogin(ctx, "p", rec.user.UUID, rec.user.Username, *rec.login); err != nil {
				t.Fatal(err)
			}
		} else if err := store.SyncUser(ctx, rec.user); err != nil {
			t.Fatal(err)
		}
	}
	var seen []record
	for d := 0; d <= w.days; d++ {
		recs := slices.Clone(w.records[d])
		if r != nil {
			r.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
			for _, rec := range recs {
				if r.IntN(3) == 0 {
					recs = append(recs, rec) // redelivered
				}
			}
			// Old login records replayed (a consumer reset); roster syncs are not, since a
			// stale roster would be newer facts' loss, which no replay order produces.
			for range r.IntN(3) {
				if len(seen) > 0 {
					if old := seen[r.IntN(len(seen))]; old.login != nil {
						recs = append(recs, old)
					}
				}
			}
		}
		for _, rec := range recs {
			apply(rec)
		}
		seen = append(seen, w.records[d]...)
		if r != nil && r.IntN(5) == 0 {
			e = newEng() // a restart: the policy cache is gone
		}
		if r != nil && r.IntN(4) == 0 {
			// A crash after publishing and before committing: the tick comes again.
			plan, err := e.planSite(ctx, sites.Sites[0], at(d))
			if err != nil {
				t.Fatal(err)
			}
			if plan != nil {
				if err := stream.publish(ctx, plan.msgs); err != nil {
					t.Fatal(err)
				}
			}
			e = newEng()
		}
		if err := e.decideTick(ctx, at(d)); err != nil {
			t.Fatal(err)
		}
		if r != nil && r.IntN(4) == 0 {
			// The same tick redelivered, and a late one.
			if err := e.decideTick(ctx, at(d)); err != nil {
				t.Fatal(err)
			}
			if err := e.decideTick(ctx, at(d-1-r.IntN(5))); err != nil {
				t.Fatal(err)
			}
		}
	}
	var o outcome
	if err := store.EachUser(ctx, "p", func(c policy.Candidate) error { o.users = append(o.users, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if o.history, err = store.History(ctx, "p", ""); err != nil {
		t.Fatal(err)
	}
	if o.held, err = store.HeldBatches(ctx, "p", ""); err != nil {
		t.Fatal(err)
	}
	o.events = stream.data
	return o
}

// TestEmittedEventsMatchTheSchemas checks every kind of event the engine builds against the
// published JSON Schemas, including ones the time-travel test reads back from NATS.
func TestEmittedEventsMatchTheSchemas(t *testing.T) {
	last := t0
	req := policy.HeldRequest{DecisionID: "d1", UserUUID: uid(1), Username: "u", Rule: policy.RuleInactiveAfter, Reason: "no login",
		LastLoginAt: &last, LastActivity: last, DecidedAt: at(90), PolicyVersion: "v1"}
	for _, wouldBe := range []bool{false, true} {
		ev, err := requestEvent("main", req, wouldBe)
		if err != nil {
			t.Fatal(err)
		}
		eventstest.AssertMatchesSchema(t, ev)
	}
	tick, err := TickEvent(at(3), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	eventstest.AssertMatchesSchema(t, tick)
	if tick.ID() != events.TickID(at(3)) {
		t.Errorf("tick id = %s, want %s", tick.ID(), events.TickID(at(3)))
	}
}
