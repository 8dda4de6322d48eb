package actuator

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/policy"
)

func TestReactivationUnretiresRecordsAndGivesAFreshGracePeriod(t *testing.T) {
	w := newWorld(t)
	old := time.Now().UTC().Add(-120 * 24 * time.Hour)
	id := w.user(openmrstest.UserSpec{Username: "midwife", Retired: true, RetireReason: "dormant: no login for 90 days"}, old)

	feed, err := NewActivityFeed(w.ctx, zap.NewNop(), w.js, w.ns, "policy-reactivations", w.proj)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	at := time.Now().UTC().Truncate(time.Millisecond)
	r := &Reactivator{JS: w.js, NS: w.ns, Store: w.store, Clients: map[string]OpenMRS{site: w.client}, Now: func() time.Time { return at }}
	rec, err := r.Reactivate(w.ctx, site, id, "ada", "back from maternity leave")
	if err != nil {
		t.Fatal(err)
	}

	// OpenMRS: unretired, by an unretire (never a purge or a re-create).
	if u, _ := w.fake.User(id); u.Retired {
		t.Fatal("the user is still retired in OpenMRS")
	}
	var actions []string
	for _, x := range w.fake.Retirements() {
		if x.UUID == id {
			actions = append(actions, x.Action)
		}
	}
	if len(actions) != 1 || actions[0] != "unretire" {
		t.Fatalf("OpenMRS saw %v, want [unretire]", actions)
	}
	// The record: who and why.
	recs, err := w.store.Reactivations(w.ctx, site, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].By != "ada" || recs[0].Reason != "back from maternity leave" || !recs[0].WasRetired || recs[0].Username != "midwife" || !recs[0].ReactivatedAt.Equal(at) {
		t.Fatalf("records %+v", recs)
	}
	// The event.
	evs := w.published(w.ns.StreamActions(), w.ns.Reactivated(site))
	if len(evs) != 1 || evs[0].ID() != rec.ID {
		t.Fatalf("%d reactivated events (want 1 with id %s)", len(evs), rec.ID)
	}
	if d := decode[*events.UserReactivated](t, evs[0]); d.UserUUID != id || d.By != "ada" || d.Reason != "back from maternity leave" || d.Username != "midwife" {
		t.Fatalf("event data %+v", d)
	}

	// The grace period: the projection measures the user from the reactivation...
	var u policy.User
	deadline := time.Now().Add(10 * time.Second)
	for {
		if u, err = w.proj.User(w.ctx, site, id); err != nil {
			t.Fatal(err)
		}
		if u.LastLoginAt != nil && u.LastLoginAt.Equal(at) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("projection's last activity = %v, want the reactivation at %s", u.LastLoginAt, at)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ...so the policy's rules give a whole new period with its warnings, where the old login
	// alone would have them retired on the spot.
	p := policy.DefaultPolicy()
	p.Enabled, p.DryRun = true, false
	rules, err := policy.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	u.Retired = false // as the next roster sync will say
	baseline := old.Add(-365 * 24 * time.Hour)
	for _, tc := range []struct {
		after time.Duration
		want  policy.Kind
	}{
		{time.Hour, policy.KindNone},
		{60 * 24 * time.Hour, policy.KindNone},
		{76 * 24 * time.Hour, policy.KindWarn},
	} {
		out, _ := rules.Evaluate(u, policy.State{}, nil, baseline, at.Add(tc.after))
		if out.Kind != tc.want || !out.LastActivity.Equal(at) {
			t.Errorf("%s after the reactivation: %s measured from %s, want %s measured from the reactivation", tc.after, out.Kind, out.LastActivity, tc.want)
		}
	}
	// Without the reactivation the old login would put the user straight back on the road to
	// retirement (warned at once), so the checks above do prove the fresh period.
	stale := u
	stale.LastLoginAt = &old
	if out, _ := rules.Evaluate(stale, policy.State{}, nil, baseline, at.Add(time.Hour)); out.Kind != policy.KindWarn {
		t.Fatalf("measured from the old login: %s, want warn", out.Kind)
	}

	// And a deactivation decided before the reactivation, delivered late, is superseded.
	w.start(nil)
	w.request(events.DeactivationRequested{DecisionID: "d-late", UserUUID: id, Username: "midwife", LastLoginAt: &old, DecidedAt: at.Add(-time.Hour)})
	if got := w.outcome("d-late"); got.Outcome != OutcomeSuperseded {
		t.Fatalf("late decision: %s (%s), want superseded", got.Outcome, got.Detail)
	}
	if u, _ := w.fake.User(id); u.Retired {
		t.Fatal("the late decision retired the reactivated user")
	}
}

func TestReactivateRefusesWithoutWhoAndWhyAndForUnknownUsers(t *testing.T) {
	w := newWorld(t)
	r := &Reactivator{JS: w.js, NS: w.ns, Store: w.store, Clients: map[string]OpenMRS{site: w.client}}
	if _, err := r.Reactivate(w.ctx, site, w.fake.UserUUID("admin"), " ", "why"); err == nil {
		t.Fatal("reactivation without who was accepted")
	}
	if _, err := r.Reactivate(w.ctx, site, w.fake.UserUUID("admin"), "ada", ""); err == nil {
		t.Fatal("reactivation without why was accepted")
	}
	if _, err := r.Reactivate(w.ctx, site, "0b7c43a2-6f57-4f60-9a2e-1f1d0c1a9e77", "ada", "why"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown user: %v, want ErrUnknownUser", err)
	}
	if _, err := r.Reactivate(w.ctx, "other-site", w.fake.UserUUID("admin"), "ada", "why"); err == nil {
		t.Fatal("a site without OpenMRS was accepted")
	}
	if evs := w.published(w.ns.StreamActions(), w.ns.Reactivated(site)); len(evs) != 0 {
		t.Fatalf("%d reactivated events for refused reactivations", len(evs))
	}
}
