package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

const day = 24 * time.Hour

func sync(t *testing.T, s policy.Store, u policy.User) {
	t.Helper()
	if err := s.SyncUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

func login(t *testing.T, s policy.Store, site, id string, at time.Time) {
	t.Helper()
	if _, err := s.RecordLogin(context.Background(), site, id, "", at); err != nil {
		t.Fatal(err)
	}
}

func uuids(cs []policy.Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.User.UUID)
	}
	slices.Sort(out)
	return out
}

// runDecisions is the conformance suite of policy.DecisionStore.
func runDecisions(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("a site never seen has a zero state", func(t *testing.T) {
		st, err := open(t).SiteState(ctx, "a")
		if err != nil || st != (policy.SiteState{Site: "a"}) {
			t.Fatalf("SiteState = %+v, %v", st, err)
		}
	})
	t.Run("feed health is the newest login recorded, whatever the order", func(t *testing.T) {
		s := open(t)
		for _, at := range []time.Time{t0, t0.Add(2 * time.Hour), t0.Add(time.Hour)} {
			login(t, s, "a", "u1", at)
		}
		login(t, s, "b", "u2", t0.Add(5*time.Hour))
		st, err := s.SiteState(ctx, "a")
		if err != nil || !st.LastFeedAt.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("LastFeedAt = %v, %v; want %v", st.LastFeedAt, err, t0.Add(2*time.Hour))
		}
	})
	t.Run("the first committed tick sets the baseline and later ticks never move it", func(t *testing.T) {
		s := open(t)
		if err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: t0, Baseline: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: t0.Add(time.Hour), Baseline: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		st, _ := s.SiteState(ctx, "a")
		if !st.Baseline.Equal(t0) || !st.LastTick.Equal(t0.Add(time.Hour)) {
			t.Fatalf("site = %+v", st)
		}
	})
	t.Run("a tick at or before the last one is refused and changes nothing", func(t *testing.T) {
		s := open(t)
		sync(t, s, policy.User{Site: "a", UUID: "u1", Username: "u1", CreatedAt: t0})
		if err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: t0, Baseline: t0}); err != nil {
			t.Fatal(err)
		}
		for _, at := range []time.Time{t0, t0.Add(-time.Hour)} {
			err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: at, Baseline: at,
				States:  []policy.StateChange{{UserUUID: "u1", State: policy.State{Rule: "r", Anchor: t0, Due: t0, DeactivateOn: t0}}},
				History: []policy.HistoryEntry{{Site: "a", UserUUID: "u1", Kind: policy.HistoryWarned, At: at}}})
			if !errors.Is(err, policy.ErrStaleTick) {
				t.Fatalf("commit of %v: err = %v, want ErrStaleTick", at, err)
			}
		}
		if st, _ := s.UserState(ctx, "a", "u1"); !st.IsZero() {
			t.Fatalf("a refused tick stored a state: %+v", st)
		}
		if h, _ := s.History(ctx, "a", ""); len(h) != 0 {
			t.Fatalf("a refused tick recorded history: %+v", h)
		}
	})
	t.Run("a tick stores states, deletes zero states and records history in order", func(t *testing.T) {
		s := open(t)
		st := policy.State{Rule: policy.RuleInactiveAfter, Anchor: t0, Due: t0.Add(90 * day), DeactivateOn: t0.Add(91 * day),
			Warned: 7 * day, Requested: true, DryRun: true}
		h := []policy.HistoryEntry{
			{Site: "a", UserUUID: "u1", Kind: policy.HistoryWarned, At: t0, PolicyVersion: "v1", By: "policy", Reason: "r1", EventID: "e1", WouldBe: true},
			{Site: "a", UserUUID: "u2", Kind: policy.HistoryRequested, At: t0, PolicyVersion: "v1", By: "policy", Reason: "r2", EventID: "e2"},
		}
		if err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: t0, Baseline: t0,
			States: []policy.StateChange{{UserUUID: "u1", State: st}, {UserUUID: "u2", State: st}}, History: h}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.UserState(ctx, "a", "u1"); got != st {
			t.Fatalf("state = %+v\nwant %+v", got, st)
		}
		if err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: t0.Add(time.Hour), States: []policy.StateChange{{UserUUID: "u1"}}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.UserState(ctx, "a", "u1"); !got.IsZero() {
			t.Fatalf("zero state not deleted: %+v", got)
		}
		got, err := s.History(ctx, "a", "")
		if err != nil || !reflect.DeepEqual(got, h) {
			t.Fatalf("history = %+v, %v\nwant %+v", got, err, h)
		}
		if got, _ := s.History(ctx, "a", "u2"); len(got) != 1 || got[0].EventID != "e2" {
			t.Fatalf("history of u2 = %+v", got)
		}
	})
	t.Run("preselection returns exactly the synced users a tick needs", func(t *testing.T) {
		s := open(t)
		old, recent := t0.Add(-200*day), t0.Add(-day)
		users := []struct {
			u     policy.User
			login *time.Time
		}{
			{policy.User{UUID: "old-login", CreatedAt: old}, &old},
			{policy.User{UUID: "recent-login", CreatedAt: old}, &recent},
			{policy.User{UUID: "old-retired", CreatedAt: old, Retired: true}, &old},
			{policy.User{UUID: "never-old", CreatedAt: old}, nil},
			{policy.User{UUID: "never-recent", CreatedAt: recent}, nil},
			{policy.User{UUID: "demo", Username: "test-x", CreatedAt: recent}, nil},
			{policy.User{UUID: "pending", CreatedAt: old}, &recent},
		}
		for _, x := range users {
			x.u.Site = "a"
			if x.u.Username == "" {
				x.u.Username = x.u.UUID
			}
			sync(t, s, x.u)
			if x.login != nil {
				login(t, s, "a", x.u.UUID, *x.login)
			}
		}
		login(t, s, "a", "unsynced", old) // a login the roster has not confirmed is never decided
		if _, err := s.ClassifyDemo(ctx, "a", "k1", func(u policy.User) bool { return strings.HasPrefix(u.Username, "test-") }); err != nil {
			t.Fatal(err)
		}
		if err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: t0, Baseline: t0,
			States: []policy.StateChange{{UserUUID: "pending", State: policy.State{Rule: "r", Anchor: t0, Due: t0, DeactivateOn: t0}}}}); err != nil {
			t.Fatal(err)
		}
		cut := &policy.Cutoffs{ActivityBefore: t0.Add(-30 * day), DemoCreatedBefore: t0}
		tests := []struct {
			name     string
			baseline time.Time
			c        *policy.Cutoffs
			want     []string
		}{
			{"baseline before the cutoff: never-logged-in users measured from creation", old.Add(-day), cut, []string{"demo", "never-old", "old-login", "pending"}},
			{"baseline after the cutoff: nobody never seen logging in is due", t0, cut, []string{"demo", "old-login", "pending"}},
			{"no cutoffs: only users with a state", t0, nil, []string{"pending"}},
		}
		for _, tc := range tests {
			got, err := s.Candidates(ctx, "a", tc.baseline, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(uuids(got), tc.want) {
				t.Errorf("%s: candidates = %v, want %v", tc.name, uuids(got), tc.want)
			}
			for _, c := range got {
				if c.User.UUID == "pending" && c.State.Rule != "r" {
					t.Errorf("%s: candidate lost its state: %+v", tc.name, c.State)
				}
			}
		}
		n, err := s.ActiveUsers(ctx, "a")
		if err != nil || n != 6 {
			t.Fatalf("ActiveUsers = %d, %v; want 6 (synced, not retired)", n, err)
		}
		var all []string
		if err := s.EachUser(ctx, "a", func(c policy.Candidate) error { all = append(all, c.User.UUID); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(all) != 7 || !slices.IsSorted(all) {
			t.Fatalf("EachUser = %v, want the 7 synced users in uuid order", all)
		}
	})
	t.Run("demo flags are recomputed for changed users and for new criteria only", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"u1", "u2", "u3"} {
			sync(t, s, policy.User{Site: "a", UUID: id, Username: id, CreatedAt: t0})
		}
		calls := 0
		isDemo := func(u policy.User) bool { calls++; return u.Username == "test-u2" }
		if n, err := s.ClassifyDemo(ctx, "a", "k1", isDemo); err != nil || n != 3 {
			t.Fatalf("first classification = %d, %v; want 3", n, err)
		}
		sync(t, s, policy.User{Site: "a", UUID: "u1", Username: "u1", CreatedAt: t0, Retired: true}) // no demo fact changed
		sync(t, s, policy.User{Site: "a", UUID: "u2", Username: "test-u2", CreatedAt: t0})
		if n, err := s.ClassifyDemo(ctx, "a", "k1", isDemo); err != nil || n != 1 {
			t.Fatalf("after a rename = %d, %v; want 1", n, err)
		}
		if n, err := s.ClassifyDemo(ctx, "a", "k2", isDemo); err != nil || n != 3 {
			t.Fatalf("new criteria = %d, %v; want 3", n, err)
		}
		got, _ := s.Candidates(ctx, "a", t0, &policy.Cutoffs{ActivityBefore: t0.Add(-day), DemoCreatedBefore: t0.Add(day)})
		if !slices.Equal(uuids(got), []string{"u2"}) {
			t.Fatalf("demo candidates = %v, want [u2]", uuids(got))
		}
	})
	t.Run("users are found by username in any case", func(t *testing.T) {
		s := open(t)
		sync(t, s, policy.User{Site: "a", UUID: "u1", Username: "Alice", CreatedAt: t0})
		u, err := s.UserByUsername(ctx, "a", "aLICE")
		if err != nil || u.UUID != "u1" {
			t.Fatalf("UserByUsername = %+v, %v", u, err)
		}
		if _, err := s.UserByUsername(ctx, "a", "bob"); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("unknown username: err = %v", err)
		}
	})
	t.Run("exemptions are added, ended and removed with history", func(t *testing.T) {
		s := open(t)
		until := t0.Add(30 * day)
		e := policy.Exemption{UserUUID: "u1", Reason: "transfer", By: "admin1", Until: &until, CreatedAt: t0}
		if err := s.PutExemption(ctx, "a", e, policy.HistoryEntry{Site: "a", UserUUID: "u1", Kind: policy.HistoryExemptionAdded, At: t0, By: "admin1"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Exemptions(ctx, "a")
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], e) {
			t.Fatalf("exemptions = %+v, %v", got, err)
		}
		end := t0.Add(day)
		if err := s.EndExemption(ctx, "a", "u1", end, policy.HistoryEntry{Site: "a", UserUUID: "u1", Kind: policy.HistoryExemptionEnded, At: end}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Exemptions(ctx, "a"); got[0].Until == nil || !got[0].Until.Equal(end) {
			t.Fatalf("ended exemption = %+v", got[0])
		}
		if err := s.RemoveExemption(ctx, "a", "u1", policy.HistoryEntry{Site: "a", UserUUID: "u1", Kind: policy.HistoryExemptionRemoved, At: end}); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveExemption(ctx, "a", "u1", policy.HistoryEntry{Site: "a", UserUUID: "u1", Kind: policy.HistoryExemptionRemoved, At: end}); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("second removal: err = %v, want ErrNotFound", err)
		}
		if err := s.EndExemption(ctx, "a", "u9", end, policy.HistoryEntry{Site: "a", Kind: policy.HistoryExemptionEnded, At: end}); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("ending a missing exemption: err = %v, want ErrNotFound", err)
		}
		h, _ := s.History(ctx, "a", "u1")
		var kinds []string
		for _, e := range h {
			kinds = append(kinds, e.Kind)
		}
		if !slices.Equal(kinds, []string{policy.HistoryExemptionAdded, policy.HistoryExemptionEnded, policy.HistoryExemptionRemoved}) {
			t.Fatalf("history = %v (a failed change must record nothing)", kinds)
		}
	})
	t.Run("a held batch is decided once", func(t *testing.T) {
		s := open(t)
		last := t0.Add(-100 * day)
		b := policy.HeldBatch{Site: "a", BatchID: "b1", Tick: t0, Reason: "too many", Limit: 2, Status: policy.HeldPending,
			Requests: []policy.HeldRequest{{DecisionID: "d1", UserUUID: "u1", Username: "x", Rule: "r", Reason: "why", LastLoginAt: &last,
				LastActivity: last, DecidedAt: t0, PolicyVersion: "v"}}}
		if err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: t0, Baseline: t0, Held: &b}); err != nil {
			t.Fatal(err)
		}
		got, err := s.HeldBatch(ctx, "a", "b1")
		if err != nil || !reflect.DeepEqual(got, b) {
			t.Fatalf("held batch = %+v, %v\nwant %+v", got, err, b)
		}
		if l, _ := s.HeldBatches(ctx, "a", policy.HeldPending); len(l) != 1 {
			t.Fatalf("pending batches = %d, want 1", len(l))
		}
		at := t0.Add(time.Hour)
		if err := s.DecideHeld(ctx, "a", "b1", policy.HeldApproved, "admin1", at, []policy.HistoryEntry{{Site: "a", Kind: policy.HistoryApproved, At: at, BatchID: "b1"}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.DecideHeld(ctx, "a", "b1", policy.HeldRejected, "admin2", at, nil, nil); !errors.Is(err, policy.ErrNotPending) {
			t.Fatalf("second decision: err = %v, want ErrNotPending", err)
		}
		if err := s.DecideHeld(ctx, "a", "nope", policy.HeldRejected, "admin2", at, nil, nil); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("unknown batch: err = %v, want ErrNotFound", err)
		}
		got, _ = s.HeldBatch(ctx, "a", "b1")
		if got.Status != policy.HeldApproved || got.DecidedBy != "admin1" || !got.DecidedAt.Equal(at) {
			t.Fatalf("decided batch = %+v", got)
		}
		if l, _ := s.HeldBatches(ctx, "a", policy.HeldPending); len(l) != 0 {
			t.Fatalf("pending batches after approval = %d", len(l))
		}
	})
	t.Run("a rejection returns to due only the users still on the held plan, with the decision", func(t *testing.T) {
		s := open(t)
		held := func(string) policy.State {
			return policy.State{Rule: policy.RuleInactiveAfter, Anchor: t0.Add(-100 * day), Due: t0.Add(-10 * day), DeactivateOn: t0,
				Warned: day, Requested: true}
		}
		users := []string{"kept", "loggedin", "cleared", "dropped"}
		b := policy.HeldBatch{Site: "a", BatchID: "b2", Tick: t0, Reason: "too many", Limit: 1, Status: policy.HeldPending}
		var states []policy.StateChange
		for _, u := range users {
			states = append(states, policy.StateChange{UserUUID: u, State: held(u)})
			b.Requests = append(b.Requests, policy.HeldRequest{DecisionID: policy.DecisionID("a", u, held(u)), UserUUID: u, Rule: policy.RuleInactiveAfter,
				Reason: "why", LastActivity: t0.Add(-100 * day), DecidedAt: t0, PolicyVersion: "v"})
		}
		if err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: t0, Baseline: t0, States: states, Held: &b}); err != nil {
			t.Fatal(err)
		}
		// A tick after the hold: "loggedin" is on a new plan, "cleared" has none any more.
		newer := policy.State{Rule: policy.RuleInactiveAfter, Anchor: t0.Add(time.Hour), Due: t0.Add(90 * day), DeactivateOn: t0.Add(90 * day)}
		if err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: t0.Add(day), Baseline: t0,
			States: []policy.StateChange{{UserUUID: "loggedin", State: newer}, {UserUUID: "cleared"}}}); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(day + time.Hour)
		again := func(u string) policy.State {
			st := held(u)
			st.Requested, st.Warned, st.DeactivateOn = false, 0, at.Add(30*day)
			return st
		}
		var due []policy.DueAgain
		for _, r := range b.Requests {
			d := policy.DueAgain{UserUUID: r.UserUUID, DecisionID: r.DecisionID, State: again(r.UserUUID)}
			if r.UserUUID == "dropped" {
				d.State = policy.State{} // a zero state clears the plan
			}
			due = append(due, d)
		}
		hist := []policy.HistoryEntry{{Site: "a", Kind: policy.HistoryRejected, At: at, BatchID: "b2", By: "admin1", Reason: "not now"}}
		if err := s.DecideHeld(ctx, "a", "b2", policy.HeldRejected, "admin1", at, hist, due); err != nil {
			t.Fatal(err)
		}
		for u, want := range map[string]policy.State{"kept": again("kept"), "loggedin": newer, "cleared": {}, "dropped": {}} {
			if got, err := s.UserState(ctx, "a", u); err != nil || got != want {
				t.Errorf("state of %s = %+v, %v\nwant %+v", u, got, err, want)
			}
		}
		// Once decided, nothing more changes: the batch status and the states move together.
		other := again("kept")
		other.DeactivateOn = at.Add(60 * day)
		redo := []policy.DueAgain{{UserUUID: "kept", DecisionID: policy.DecisionID("a", "kept", again("kept")), State: other}}
		if err := s.DecideHeld(ctx, "a", "b2", policy.HeldRejected, "admin2", at, hist, redo); !errors.Is(err, policy.ErrNotPending) {
			t.Fatalf("second decision: err = %v, want ErrNotPending", err)
		}
		if got, _ := s.UserState(ctx, "a", "kept"); got != again("kept") {
			t.Errorf("a refused decision changed a state: %+v", got)
		}
		if h, _ := s.History(ctx, "a", ""); len(h) != 1 || h[0].Kind != policy.HistoryRejected {
			t.Errorf("history = %+v, want the one rejection", h)
		}
		// A user back on due is no longer on the held plan: a second batch's stale DueAgain
		// for it is skipped.
		if policy.StillHeld("a", "kept", again("kept"), b.Requests[0].DecisionID) {
			t.Error("a state returned to due still counts as held")
		}
	})
	t.Run("a failed deactivation returns to due only a user still on its plan, once per event", func(t *testing.T) {
		s := open(t)
		planned := policy.State{Rule: policy.RuleInactiveAfter, Anchor: t0.Add(-100 * day), Due: t0.Add(-10 * day), DeactivateOn: t0,
			Warned: day, Requested: true}
		newer := policy.State{Rule: policy.RuleInactiveAfter, Anchor: t0.Add(time.Hour), Due: t0.Add(90 * day), DeactivateOn: t0.Add(90 * day)}
		var states []policy.StateChange
		var requests []policy.HistoryEntry
		for _, u := range []string{"failed", "loggedin", "otherSite"} {
			states = append(states, policy.StateChange{UserUUID: u, State: planned})
			requests = append(requests, policy.HistoryEntry{Site: "a", UserUUID: u, Kind: policy.HistoryRequested, At: t0, By: "policy",
				EventID: policy.DecisionID("a", u, planned)})
		}
		if err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: t0, Baseline: t0, States: states, History: requests}); err != nil {
			t.Fatal(err)
		}
		// "loggedin" logged in: the next tick put it on a new plan.
		if err := s.CommitTick(ctx, policy.TickCommit{Site: "a", At: t0.Add(time.Hour), Baseline: t0,
			States: []policy.StateChange{{UserUUID: "loggedin", State: newer}}}); err != nil {
			t.Fatal(err)
		}
		again := planned
		again.Requested, again.DeactivateOn = false, t0.Add(2*day)
		failure := func(user, eventID string, due policy.State) policy.DeactivationFailure {
			return policy.DeactivationFailure{Site: "a", EventID: eventID, Settle: user == "settled",
				Due:     policy.DueAgain{UserUUID: user, DecisionID: policy.DecisionID("a", user, planned), State: due},
				Applied: policy.HistoryEntry{At: t0.Add(day), By: "actuator", Reason: "403; due again"},
				Kept:    policy.HistoryEntry{At: t0.Add(day), By: "actuator", Reason: "403; plan changed, kept"}}
		}
		for _, tc := range []struct {
			name      string
			f         policy.DeactivationFailure
			want      policy.FailureOutcome
			wantErr   error
			user      string
			wantState policy.State
			wantWhy   []string // reasons of the user's failure_recorded entries, oldest first
		}{
			{"on the failed plan: due again", failure("failed", "ev-1", again), policy.FailureDueAgain, nil, "failed", again, []string{"403; due again"}},
			// The same event again (a redelivery) changes nothing, even with another state.
			{"a redelivery is a duplicate", failure("failed", "ev-1", newer), policy.FailureDuplicate, nil, "failed", again, []string{"403; due again"}},
			// Another event for the old decision (a second actuator's) finds the plan moved on.
			{"the plan moved on since: kept", failure("failed", "ev-2", newer), policy.FailureKept, nil, "failed", again, []string{"403; due again", "403; plan changed, kept"}},
			{"a login since the request wins", failure("loggedin", "ev-3", again), policy.FailureKept, nil, "loggedin", newer, []string{"403; plan changed, kept"}},
			// The actuator was faster than the tick's commit: nothing yet, the caller retries.
			{"before its decision is committed: nothing", failure("nobody", "ev-4", again), "", policy.ErrNotCommitted, "nobody", policy.State{}, nil},
			// A decision that never commits must not hold the caller for ever.
			{"settled without its decision: kept", failure("settled", "ev-5", again), policy.FailureKept, nil, "settled", policy.State{}, []string{"403; plan changed, kept"}},
		} {
			got, err := s.RecordFailure(ctx, tc.f)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Errorf("%s: outcome %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.wantErr)
			}
			if st, err := s.UserState(ctx, "a", tc.user); err != nil || st != tc.wantState {
				t.Errorf("%s: state %+v, %v\nwant %+v", tc.name, st, err, tc.wantState)
			}
			h, err := s.History(ctx, "a", tc.user)
			if err != nil {
				t.Fatal(err)
			}
			var why []string
			for _, e := range h {
				if e.Kind == policy.HistoryRequested {
					continue
				}
				if e.Kind != policy.HistoryFailureRecorded || e.By != "actuator" || !e.At.Equal(t0.Add(day)) {
					t.Errorf("%s: unexpected history entry %+v", tc.name, e)
				}
				why = append(why, e.Reason)
			}
			if !slices.Equal(why, tc.wantWhy) {
				t.Errorf("%s: history reasons %q, want %q", tc.name, why, tc.wantWhy)
			}
		}
		if h, _ := s.History(ctx, "a", "failed"); len(h) < 2 || h[1].EventID != "ev-1" {
			t.Errorf("history %+v; want the failure entry keyed by the failure event's id ev-1", h)
		}
		// The event is the key within a site and user: the same id elsewhere is recorded.
		f := failure("otherSite", "ev-1", again)
		if got, err := s.RecordFailure(ctx, f); err != nil || got != policy.FailureDueAgain {
			t.Errorf("the same event id for another user: %q, %v; want due_again", got, err)
		}
	})
}
