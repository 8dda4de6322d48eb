package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/policy"
)

// The site has no OpenMRS connection: the real actuator fails every request at once, not
// retryable, as it would for a site whose credentials were removed.
const failureSites = `
sites:
  - id: fail
    policy: {enabled: true, dry_run: false, feed_silence_window: 0, max_deactivations_percent: 0, failure_retry_after: 2d}
`

// TestAFailedDeactivationIsProposedAgain drives the real service, actuator and actions feed
// through failed deactivations: the user returns to due and is proposed again
// failure_retry_after later under a new decision id, without being warned again, for as long
// as it fails; a login ends it; a failure for a plan that moved on changes nothing; the same
// failure event twice is recorded once. The history tells the story.
func TestAFailedDeactivationIsProposedAgain(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) { failedDeactivation(t, newHarness(t, eng.open(t), failureSites)) })
	}
}

func failedDeactivation(t *testing.T, h *harness) {
	ctx := h.ctx
	f1, f2 := uid(61), uid(62)
	for i, id := range []string{f1, f2} {
		name := fmt.Sprintf("f%d", i+1)
		h.sync("fail", events.UserSynced{UserUUID: id, Username: name, CreatedAt: t0.Add(-400 * day)})
		h.login("fail", id, name, t0.Add(-time.Hour)) // both due on day 90
	}
	h.settle()
	// The actuator stamps its failures with the simulated day, as in production with the
	// wall clock.
	var sim time.Time
	h.p.clock = func() time.Time { return sim }

	var staleID string
	after := map[int]func(){
		90: func() {
			st := h.states("fail")
			if s := st[f1]; s.Requested || !s.DeactivateOn.Equal(at(92)) || s.Warned != day {
				t.Errorf("f1 after the failure: %+v; want due again on day 92, warnings kept", s)
			}
			// f1 is not requested now, but still dormant: a failed login on it is suspicious.
			h.failedLogin("fail", f1, "f1", at(90).Add(2*time.Hour))
			// f2 logs in the day after: a new cycle, and no more proposals.
			h.login("fail", f2, "f2", at(91).Add(time.Hour))
			h.settle()
		},
		91: func() {
			hist, err := h.p.store.History(ctx, "fail", f2)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(hist, func(e policy.HistoryEntry) bool { return e.Kind == policy.HistoryRequested })
			if i < 0 {
				t.Fatalf("f2 history %+v has no request", hist)
			}
			staleID = hist[i].EventID
		},
		93: func() {
			// A failure for f2's old decision arriving now (a slow actuator's) finds the
			// new cycle: nothing changes but the history.
			before := h.states("fail")[f2]
			h.publish(h.ns.DeactivationFailed("fail"), h.event("fail", &events.DeactivationFailed{DecisionID: staleID, UserUUID: f2,
				Error: "openmrs: 503", Attempts: 5, Retryable: true}, at(93)))
			h.actionsSettled()
			if got := h.states("fail")[f2]; got != before {
				t.Errorf("a stale failure changed f2's newer plan: %+v, was %+v", got, before)
			}
		},
	}
	for d := 0; d <= 95; d++ {
		sim = at(d)
		h.tick(at(d))
		h.actionsSettled()
		if f := after[d]; f != nil {
			f()
		}
	}

	got := map[string][]string{}
	ids := map[string]bool{}
	for _, ev := range h.emitted(h.ns.StreamDecisions()) {
		d, err := events.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		day := int(ev.Time().Sub(t0) / day)
		switch d := d.(type) {
		case *events.UserWarned:
			got[d.UserUUID] = append(got[d.UserUUID], fmt.Sprintf("warn@%d/%d", day, d.DaysLeft))
		case *events.DeactivationRequested:
			got[d.UserUUID] = append(got[d.UserUUID], fmt.Sprintf("request@%d", day))
			if ids[d.DecisionID] {
				t.Errorf("decision id %s proposed twice", d.DecisionID)
			}
			ids[d.DecisionID] = true
		}
	}
	warned := []string{"warn@76/14", "warn@83/7", "warn@89/1"}
	for id, want := range map[string][]string{
		f1: append(slices.Clone(warned), "request@90", "request@92", "request@94"),
		f2: append(slices.Clone(warned), "request@90"),
	} {
		if !slices.Equal(got[id], want) {
			t.Errorf("user %s: events %v, want %v", id, got[id], want)
		}
	}

	requested := []string{policy.HistoryWarned, policy.HistoryWarned, policy.HistoryWarned, policy.HistoryRequested, policy.HistoryFailureRecorded}
	h.checkHistory("fail", f1, slices.Concat(requested, requested[3:], requested[3:]))
	// f2's login cancels the retry pending since the failure; the stale failure is recorded
	// as kept.
	stale := append(slices.Clone(requested), policy.HistoryCancelled, policy.HistoryFailureRecorded)
	h.checkHistory("fail", f2, stale)
	hist, err := h.p.store.History(ctx, "fail", f2)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int][]string{
		4: {"not retryable: needs a person", "no OpenMRS connection", "due again", at(92).Format(time.RFC3339)},
		6: {"(retryable)", "openmrs: 503", "after 5 attempts", "plan changed"},
	} {
		for _, w := range want {
			if !strings.Contains(hist[i].Reason, w) {
				t.Errorf("f2 history entry %d %q does not say %q", i, hist[i].Reason, w)
			}
		}
	}

	alerts := map[string]string{}
	for _, ev := range h.emitted(h.ns.StreamSecurity()) {
		a, err := events.DecodeAs[*events.SecurityAlert](ev)
		if err != nil {
			t.Fatal(err)
		}
		alerts[a.UserUUID] = a.Kind + ": " + a.Detail
	}
	if len(alerts) != 1 || !strings.HasPrefix(alerts[f1], AlertLoginOnDormant+": failed login on a dormant account past its due day") {
		t.Errorf("security alerts = %v, want one for f1 as dormant", alerts)
	}

	// A redelivery of a failure already recorded changes nothing.
	fail1 := &events.DeactivationFailed{DecisionID: staleID, UserUUID: f2, Error: "openmrs: 503", Attempts: 5, Retryable: true}
	for range 2 {
		if err := h.p.engine.deactivationFailed(ctx, "fail", at(95), "redelivered-1", fail1, false); err != nil {
			t.Fatal(err)
		}
	}
	h.checkHistory("fail", f2, append(stale, policy.HistoryFailureRecorded))
	for outcome, want := range map[policy.FailureOutcome]float64{policy.FailureDueAgain: 4, policy.FailureKept: 2, policy.FailureDuplicate: 1} {
		if got := testutil.ToFloat64(h.p.engine.metrics.failures.WithLabelValues("fail", string(outcome))); got != want {
			t.Errorf("failures %s = %v, want %v", outcome, got, want)
		}
	}
}

// TestAFailureAheadOfItsDecisionWaitsThenSettles: the actuator can fail a request before the
// tick that published it has committed. The failure then changes nothing and is retried (the
// feed redelivers it) until the decision is committed; one whose decision never commits is
// recorded as kept after the wait, so the actions feed behind it is not stalled for ever.
func TestAFailureAheadOfItsDecisionWaitsThenSettles(t *testing.T) {
	sites, err := siteconfig.Parse([]byte("sites:\n  - id: s\n    policy: {enabled: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(context.Background(), engines[0].open(t))
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(store, zap.NewNop(), sites.Sites, nil)
	ctx := context.Background()
	planned := policy.State{Rule: policy.RuleInactiveAfter, Anchor: t0, Due: at(90), DeactivateOn: at(90), Warned: day, Requested: true}
	id := policy.DecisionID("s", uid(71), planned)
	fail := &events.DeactivationFailed{DecisionID: id, UserUUID: uid(71), Error: "openmrs: 403", Attempts: 1}

	f := newFailures(e, time.Second)
	f.wait = 50 * time.Millisecond
	// The tick has published (the actuator failed it) but not committed yet.
	for range 2 {
		if err := f.DeactivationFailed(ctx, "s", at(90), "ev-early", fail); !errors.Is(err, policy.ErrNotCommitted) {
			t.Fatalf("before the commit: err = %v, want ErrNotCommitted", err)
		}
	}
	if h, _ := store.History(ctx, "s", uid(71)); len(h) != 0 {
		t.Fatalf("history before the commit: %+v", h)
	}
	// The tick commits: the redelivered failure now returns the user to due.
	if err := store.CommitTick(ctx, policy.TickCommit{Site: "s", At: at(90), Baseline: t0, States: []policy.StateChange{{UserUUID: uid(71), State: planned}},
		History: []policy.HistoryEntry{{Site: "s", UserUUID: uid(71), Kind: policy.HistoryRequested, At: at(90), By: byPolicy, PolicyVersion: "v", EventID: id}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.DeactivationFailed(ctx, "s", at(90), "ev-early", fail); err != nil {
		t.Fatal(err)
	}
	if st, _ := store.UserState(ctx, "s", uid(71)); st.Requested || !st.DeactivateOn.Equal(at(91)) {
		t.Errorf("state after the commit: %+v; want due again on day 91", st)
	}
	if len(f.waiting) != 0 {
		t.Errorf("%d failures still waiting after being recorded", len(f.waiting))
	}

	// A decision that never commits: after the wait the failure is recorded as kept.
	ghost := &events.DeactivationFailed{DecisionID: "never-committed", UserUUID: uid(72), Error: "openmrs: 404", Attempts: 1}
	if err := f.DeactivationFailed(ctx, "s", at(90), "ev-ghost", ghost); !errors.Is(err, policy.ErrNotCommitted) {
		t.Fatalf("err = %v, want ErrNotCommitted", err)
	}
	time.Sleep(f.wait)
	if err := f.DeactivationFailed(ctx, "s", at(90), "ev-ghost", ghost); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	h, _ := store.History(ctx, "s", uid(72))
	if len(h) != 1 || h[0].Kind != policy.HistoryFailureRecorded || !strings.Contains(h[0].Reason, "kept") {
		t.Errorf("history of the never-committed decision: %+v; want one failure_recorded, kept", h)
	}
	// A site not configured is ignored, not retried for ever.
	if err := f.DeactivationFailed(ctx, "elsewhere", at(90), "ev-x", fail); err != nil {
		t.Errorf("a failure for a site not configured: %v", err)
	}
}

// TestTheRetryDelayComesFromTheTicksPolicy: the delay is the last tick's policy when there is
// one (no OpenMRS read per failure: failures come in bursts when it is down), else the
// effective policy read now, else the sites file; it never refuses.
func TestTheRetryDelayComesFromTheTicksPolicy(t *testing.T) {
	sites, err := siteconfig.Parse([]byte(`
sites:
  - id: s
    openmrs_url: http://openmrs.invalid/openmrs
    openmrs_user: dormant
    policy: {failure_retry_after: 3d}
`))
	if err != nil {
		t.Fatal(err)
	}
	props := func(v string) settingsFunc {
		return func(string) (map[string]string, error) {
			return map[string]string{"dormant.failureRetryAfterDays": v}, nil
		}
	}
	down := settingsFunc(func(string) (map[string]string, error) { return nil, errors.New("connection refused") })
	lastTick := &sitePolicy{loaded: policy.Loaded{Policy: policy.Policy{FailureRetryAfter: 5 * day}}}
	for _, tc := range []struct {
		name     string
		settings settingsSource
		last     *sitePolicy
		want     time.Duration
	}{
		{"the last tick's policy, without asking OpenMRS", down, lastTick, 5 * day},
		{"before any tick: a global property over the file", props("2"), nil, 2 * day},
		{"before any tick, OpenMRS unreachable: the file", down, nil, 3 * day},
		{"before any tick, a value the policy cannot take: the file", props("soon"), nil, 3 * day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(nil, zap.NewNop(), sites.Sites, map[string]settingsSource{"s": tc.settings})
			if tc.last != nil {
				e.policies["s"] = tc.last
			}
			got, err := e.failurePolicy(context.Background(), "s")
			if err != nil || got.FailureRetryAfter != tc.want {
				t.Fatalf("delay = %v, %v; want %v", got.FailureRetryAfter, err, tc.want)
			}
		})
	}
}
