package service

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/policy"
)

const day = 24 * time.Hour

// t0 is the first tick: the baseline of every site.
var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func uid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func at(d int) time.Time { return t0.Add(time.Duration(d) * day) }

const timeTravelSites = `
sites:
  - id: main
    openmrs_user: dormant-svc
    policy: {enabled: true, dry_run: false, feed_silence_window: 0, max_deactivations_percent: 0}
  - id: dry
    policy: {enabled: true, dry_run: true, feed_silence_window: 0, max_deactivations_percent: 0}
  - id: guard
    policy: {enabled: true, dry_run: false, feed_silence_window: 0, max_deactivations_per_tick: 2, max_deactivations_percent: 0}
  - id: feed
    policy: {enabled: true, dry_run: false, feed_silence_window: 3d, max_deactivations_percent: 0}
  - id: fresh
    policy: {enabled: true, dry_run: false, feed_silence_window: 0, max_deactivations_percent: 0}
`

// Users of the time-travel test, by role in the story.
var (
	mDue, mCancel, mDemo, mExempt, mExpiring, mRetired, mRole, mActing, mAdmin, mRecent = uid(1), uid(2), uid(3), uid(4), uid(5), uid(6), uid(7), uid(8), uid(9), uid(10)
	dDue                                                                                = uid(11)
	g1, g2, g3, g4, g5, g6, g7, g8                                                      = uid(21), uid(22), uid(23), uid(24), uid(25), uid(26), uid(27), uid(28)
	f1                                                                                  = uid(31)
	fr1, fr2, fr3                                                                       = uid(41), uid(42), uid(43)
)

// TestTimeTravel drives the real service through 100 simulated days, one tick a day, on each
// store engine, and checks every event it emitted against the rules of docs/policy.md.
func TestTimeTravel(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			// The decisions alone: what a failed deactivation does is failed_test.go's.
			h := newHarness(t, eng.open(t), timeTravelSites)
			h.withoutActuator()
			timeTravel(t, h)
		})
	}
}

func timeTravel(t *testing.T, h *harness) {
	ctx := h.ctx
	lastActive := t0.Add(-time.Hour) // everybody's login just before dormant starts
	created := t0.Add(-400 * day)
	user := func(site, id, name string, mod func(*events.UserSynced)) {
		u := events.UserSynced{UserUUID: id, Username: name, CreatedAt: created}
		if mod != nil {
			mod(&u)
		}
		h.sync(site, u)
	}
	for id, name := range map[string]string{mDue: "due", mCancel: "cancel", mExempt: "exempt", mExpiring: "expiring", mRole: "dev", mActing: "Dormant-Svc", mAdmin: "admin"} {
		user("main", id, name, func(u *events.UserSynced) {
			if id == mRole {
				u.Roles = []string{"Nurse", "system developer"}
			}
		})
		h.login("main", id, name, lastActive)
	}
	user("main", mRetired, "gone", func(u *events.UserSynced) { u.Retired = true })
	h.login("main", mRetired, "gone", lastActive)
	user("main", mRecent, "recent", nil)
	h.login("main", mRecent, "recent", at(30))
	user("dry", dDue, "dry-due", nil)
	h.login("dry", dDue, "dry-due", lastActive)
	for i, id := range []string{g1, g2, g3, g4, g5, g6, g7, g8} {
		name := fmt.Sprintf("g%d", i+1)
		user("guard", id, name, nil)
		switch {
		case i < 4:
			h.login("guard", id, name, lastActive) // due on day 90 together
		case i == 4:
			h.login("guard", id, name, at(1).Add(-time.Hour)) // due alone on day 91
		default:
			h.login("guard", id, name, at(5).Add(-time.Hour)) // due together on day 95
		}
	}
	user("feed", f1, "f1", nil)
	h.login("feed", f1, "f1", lastActive)
	for _, id := range []string{fr1, fr2, fr3} {
		user("fresh", id, "fresh-"+id[len(id)-2:], nil) // installed on users never seen logging in
	}
	h.settle()
	h.now = t0.Add(-time.Hour)
	if err := h.p.AddExemption(ctx, "main", mExempt, "long-term leave", "alice", nil); err != nil {
		t.Fatal(err)
	}
	expiry := at(80)
	if err := h.p.AddExemption(ctx, "main", mExpiring, "transfer to clinic B", "alice", &expiry); err != nil {
		t.Fatal(err)
	}

	var held1, held2 string
	heldOn := func(site string, tick time.Time) string {
		t.Helper()
		bs, err := h.p.HeldBatches(ctx, site, policy.HeldPending)
		if err != nil || len(bs) != 1 || !bs[0].Tick.Equal(tick) {
			t.Fatalf("pending held batches of %s = %+v, %v; want one from %s", site, bs, err, tick)
		}
		return bs[0].BatchID
	}
	before := map[int]func(){
		// The demo account appears on day 10 and is retired two days after its creation.
		10: func() {
			user("main", mDemo, "test-demo", func(u *events.UserSynced) { u.CreatedAt = at(10).Add(-time.Hour) })
		},
		// A login the evening before day 89 cancels the 1-day warning and the deactivation.
		89: func() { h.login("main", mCancel, "cancel", at(88).Add(12*time.Hour)) },
	}
	after := map[int]func(){
		90: func() {
			held1 = heldOn("guard", at(90))
			// Duplicate and out-of-order ticks change nothing.
			n := len(h.emitted(h.ns.StreamDecisions()))
			states := h.states("main")
			h.tickWithID(at(90), "again-day-90")
			h.tickWithID(at(85), "late-day-85")
			if dup := h.publish(h.ns.Tick(), mustTick(t, at(90))); !dup.Duplicate {
				t.Errorf("the same tick id published twice was stored twice")
			}
			h.settle()
			if got := len(h.emitted(h.ns.StreamDecisions())); got != n {
				t.Errorf("repeated and late ticks emitted %d events", got-n)
			}
			if got := h.states("main"); !reflect.DeepEqual(got, states) {
				t.Errorf("repeated and late ticks changed states:\n%v\nwant\n%v", got, states)
			}
			if ss, _ := h.p.store.SiteState(ctx, "main"); !ss.LastTick.Equal(at(90)) || !ss.Baseline.Equal(t0) {
				t.Errorf("site state = %+v, want last tick day 90, baseline day 0", ss)
			}
			// Failed logins on a retired account and on one whose deactivation is requested.
			h.failedLogin("main", "", "DUE", at(90).Add(time.Hour))
			h.failedLogin("main", mRetired, "gone", at(90).Add(2*time.Hour))
			h.failedLogin("main", mRecent, "recent", at(90).Add(3*time.Hour))
			h.settle()
		},
		91: func() {
			// g4 logs in after the hold: the approval must not retire it.
			h.login("guard", g4, "g4", at(91).Add(time.Hour))
			h.settle()
			h.now = at(91).Add(2 * time.Hour)
			a, err := h.p.ApproveHeld(ctx, "guard", held1, "bob")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.Released, []string{g1, g2, g3}) || len(a.Skipped) != 1 || !strings.HasPrefix(a.Skipped[g4], "logged in") {
				t.Fatalf("approval = %+v; want g1-g3 released, g4 skipped as logged in", a)
			}
			if _, err := h.p.ApproveHeld(ctx, "guard", held1, "bob"); !errors.Is(err, policy.ErrNotPending) {
				t.Fatalf("second approval: err = %v, want ErrNotPending", err)
			}
		},
		95: func() {
			held2 = heldOn("guard", at(95))
			if err := h.p.RejectHeld(ctx, "guard", held2, "bob", "these are locums, back next month"); err != nil {
				t.Fatal(err)
			}
			if _, err := h.p.ApproveHeld(ctx, "guard", held2, "bob"); !errors.Is(err, policy.ErrNotPending) {
				t.Fatalf("approving a rejected batch: err = %v, want ErrNotPending", err)
			}
		},
	}
	for d := 0; d <= 100; d++ {
		if f := before[d]; f != nil {
			f()
			h.settle()
		}
		h.tick(at(d))
		if f := after[d]; f != nil {
			f()
		}
	}

	decisions := h.emitted(h.ns.StreamDecisions())
	got := map[string][]string{}
	var helds []*events.PolicyHeld
	versions := map[string]map[string]bool{} // site → policy versions on its warnings
	for _, ev := range decisions {
		d, err := events.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		day := int(ev.Time().Sub(t0) / day)
		switch d := d.(type) {
		case *events.UserWarned:
			s := fmt.Sprintf("warn@%d/%d", day, d.DaysLeft)
			if d.DryRun {
				s += "(would-be)"
			}
			got[d.UserUUID] = append(got[d.UserUUID], s)
			if versions[events.Site(ev)] == nil {
				versions[events.Site(ev)] = map[string]bool{}
			}
			versions[events.Site(ev)][d.PolicyVersion] = true
		case *events.DeactivationRequested:
			s := fmt.Sprintf("request@%d", day)
			if d.DryRun {
				s += "(would-be)"
			}
			got[d.UserUUID] = append(got[d.UserUUID], s)
		case *events.PolicyHeld:
			helds = append(helds, d)
		}
	}
	warned := []string{"warn@76/14", "warn@83/7", "warn@89/1"}
	retired := append(slices.Clone(warned), "request@90")
	want := map[string][]string{
		mDue:      retired,                                                                                        // 89 days: warned, not retired; 90: retired once
		mCancel:   {"warn@76/14", "warn@83/7"},                                                                    // a login on day 89 cancels
		mDemo:     {"warn@11/1", "request@12"},                                                                    // demo: 2 days after creation, warned 1 day before
		mExpiring: {"warn@80/14", "warn@87/7", "warn@93/1", "request@94"},                                         // found past due when the exemption ends: 14 days' notice
		dDue:      {"warn@76/14(would-be)", "warn@83/7(would-be)", "warn@89/1(would-be)", "request@90(would-be)"}, // dry run: all would-be
		g1:        retired, g2: retired, g3: retired,                                                              // held on day 90, released by the approval
		g4: warned, // held, then logged in: not released
		g5: {"warn@77/14", "warn@84/7", "warn@90/1", "request@91"},
		g6: {"warn@81/14", "warn@88/7", "warn@94/1"}, g7: {"warn@81/14", "warn@88/7", "warn@94/1"}, g8: {"warn@81/14", "warn@88/7", "warn@94/1"},
		f1:  warned,                              // held: the feed is silent
		fr1: retired, fr2: retired, fr3: retired, // fresh install: nobody before 90 days after the baseline
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if !slices.Equal(got[id], want[id]) {
			t.Errorf("user %s: events %v, want %v", id, got[id], want[id])
		}
	}
	for id, evs := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("user %s (protected or active) got events %v", id, evs)
		}
	}
	for site, vs := range versions {
		if len(vs) != 1 || vs[""] {
			t.Errorf("policy versions on %s's warnings = %v, want the one version of its unchanged policy", site, vs)
		}
	}
	if len(versions) != 5 {
		t.Errorf("warnings came from %d sites, want 5 (the dry-run site's marked would-be)", len(versions))
	}

	if len(helds) != 3 {
		t.Fatalf("held events = %d, want 3 (guard day 90 and 95, feed day 90)", len(helds))
	}
	byID := map[string]*events.PolicyHeld{}
	for _, hd := range helds {
		byID[hd.BatchID] = hd
	}
	if b := byID[held1]; b == nil || b.Count != 4 || b.Limit != 2 || !slices.Equal(b.Sample, []string{g1, g2, g3, g4}) || !strings.Contains(b.Reason, "exceed the limit") {
		t.Errorf("guard batch = %+v", b)
	}
	for _, hd := range helds {
		if hd.BatchID != held1 && hd.BatchID != held2 && (hd.Count != 1 || !strings.Contains(hd.Reason, "no login event")) {
			t.Errorf("feed batch = %+v, want 1 held for the silent feed", hd)
		}
	}
	if b, _ := h.p.store.HeldBatch(ctx, "guard", held2); b.Status != policy.HeldRejected || b.DecidedBy != "bob" || len(b.Requests) != 3 {
		t.Errorf("rejected batch = %+v", b)
	}

	alerts := map[string]string{}
	for _, ev := range h.emitted(h.ns.StreamSecurity()) {
		a, err := events.DecodeAs[*events.SecurityAlert](ev)
		if err != nil {
			t.Fatal(err)
		}
		alerts[a.UserUUID] = a.Kind
	}
	if want := map[string]string{mDue: AlertLoginOnDormant, mRetired: AlertLoginOnDeactivated}; !maps.Equal(alerts, want) {
		t.Errorf("security alerts = %v, want %v", alerts, want)
	}

	h.checkHistory("main", mDue, []string{policy.HistoryWarned, policy.HistoryWarned, policy.HistoryWarned, policy.HistoryRequested})
	h.checkHistory("main", mCancel, []string{policy.HistoryWarned, policy.HistoryWarned, policy.HistoryCancelled})
	h.checkHistory("main", mExempt, []string{policy.HistoryExemptionAdded})
	h.checkHistory("dry", dDue, []string{policy.HistoryWarned, policy.HistoryWarned, policy.HistoryWarned, policy.HistoryRequested})
	h.checkHistory("guard", g1, []string{policy.HistoryWarned, policy.HistoryWarned, policy.HistoryWarned, policy.HistoryHeld, policy.HistoryReleased})
	h.checkHistory("guard", g4, []string{policy.HistoryWarned, policy.HistoryWarned, policy.HistoryWarned, policy.HistoryHeld, policy.HistoryApprovalSkipped, policy.HistoryCancelled})
	h.checkHistory("guard", g6, []string{policy.HistoryWarned, policy.HistoryWarned, policy.HistoryWarned, policy.HistoryHeld, policy.HistoryRejected})
}

func mustTick(t *testing.T, at time.Time) cloudevents.Event {
	ev, err := TickEvent(at, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// states is every user's state at a site, by uuid.
func (h *harness) states(site string) map[string]policy.State {
	h.t.Helper()
	out := map[string]policy.State{}
	if err := h.p.store.EachUser(h.ctx, site, func(c policy.Candidate) error { out[c.User.UUID] = c.State; return nil }); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// checkHistory checks the kinds of a user's history, and that every policy decision in it
// names the policy version it was made under.
func (h *harness) checkHistory(site, user string, want []string) {
	h.t.Helper()
	hist, err := h.p.store.History(h.ctx, site, user)
	if err != nil {
		h.t.Fatal(err)
	}
	var kinds []string
	for _, e := range hist {
		kinds = append(kinds, e.Kind)
		if e.By == byPolicy && e.PolicyVersion == "" {
			h.t.Errorf("%s history entry %+v has no policy version", user, e)
		}
	}
	if !slices.Equal(kinds, want) {
		h.t.Errorf("history of %s at %s = %v, want %v", user, site, kinds, want)
	}
}
