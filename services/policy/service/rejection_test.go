package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/policy"
)

const rejectionSites = `
sites:
  - id: cool
    policy: {enabled: true, dry_run: false, feed_silence_window: 0, max_deactivations_percent: 0,
             max_deactivations_per_tick: 2, rejection_cooloff: 10d}
`

// TestARejectedBatchIsProposedAgainAfterTheCoolOff drives the real service through a held
// batch that an admin rejects: its users return to due, are warned afresh for a day
// rejection_cooloff after the rejection, and are proposed again on it (under new decision
// ids, through the guard again), never sooner. A user whose plan changed between the hold and
// the rejection keeps the newer plan. The history tells the whole story.
func TestARejectedBatchIsProposedAgainAfterTheCoolOff(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) { rejectionCoolOff(t, newHarness(t, eng.open(t), rejectionSites)) })
	}
}

func rejectionCoolOff(t *testing.T, h *harness) {
	ctx := h.ctx
	c1, c2, c3 := uid(51), uid(52), uid(53)
	for i, id := range []string{c1, c2, c3} {
		name := fmt.Sprintf("c%d", i+1)
		h.sync("cool", events.UserSynced{UserUUID: id, Username: name, CreatedAt: t0.Add(-400 * day)})
		h.login("cool", id, name, t0.Add(-time.Hour)) // all three due on day 90: over the limit of 2
	}
	h.settle()

	var batch policy.HeldBatch
	rejectedAt := at(91).Add(time.Hour)
	again := rejectedAt.Add(10 * day)
	after := map[int]func(){
		90: func() {
			bs, err := h.p.HeldBatches(ctx, "cool", policy.HeldPending)
			if err != nil || len(bs) != 1 || len(bs[0].Requests) != 3 {
				t.Fatalf("pending batches = %+v, %v; want one of 3", bs, err)
			}
			batch = bs[0]
			// c3 logs in after the hold; the next tick moves it to a new cycle.
			h.login("cool", c3, "c3", at(90).Add(18*time.Hour))
			h.settle()
		},
		91: func() {
			h.now = rejectedAt
			if err := h.p.RejectHeld(ctx, "cool", batch.BatchID, "bob", "the roster import went wrong"); err != nil {
				t.Fatal(err)
			}
			if err := h.p.RejectHeld(ctx, "cool", batch.BatchID, "bob", "again"); !errors.Is(err, policy.ErrNotPending) {
				t.Fatalf("second rejection: err = %v, want ErrNotPending", err)
			}
			if _, err := h.p.ApproveHeld(ctx, "cool", batch.BatchID, "bob"); !errors.Is(err, policy.ErrNotPending) {
				t.Fatalf("approving a rejected batch: err = %v, want ErrNotPending", err)
			}
			st := h.states("cool")
			for _, id := range []string{c1, c2} {
				if s := st[id]; s.Requested || s.Warned != 0 || !s.DeactivateOn.Equal(again) {
					t.Errorf("state of %s after the rejection = %+v; want due again on %s, unwarned", id, s, again)
				}
			}
			if s := st[c3]; s.Requested {
				t.Errorf("c3, on a new cycle since the hold, was put back on the held plan: %+v", s)
			}
		},
	}
	for d := 0; d <= 103; d++ {
		h.tick(at(d))
		if f := after[d]; f != nil {
			f()
		}
	}

	got := map[string][]string{}
	requests := map[string]*events.DeactivationRequested{}
	var helds int
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
			requests[d.UserUUID] = d
			if d.DecidedAt.Before(again) {
				t.Errorf("%s proposed again at %s, before the cool-off ended (%s)", d.UserUUID, d.DecidedAt, again)
			}
		case *events.PolicyHeld:
			helds++
		}
	}
	first := []string{"warn@76/14", "warn@83/7", "warn@89/1"}
	// Rejected on day 91: the new day is day 101 + 1h; the 14-day step is already past, so the
	// first new warning goes out at once with the days really left.
	reproposed := append(slices.Clone(first), "warn@92/10", "warn@95/7", "warn@101/1", "request@102")
	for id, want := range map[string][]string{c1: reproposed, c2: reproposed, c3: first} {
		if !slices.Equal(got[id], want) {
			t.Errorf("user %s: events %v, want %v", id, got[id], want)
		}
	}
	if helds != 1 {
		t.Errorf("%d held events, want 1: the re-proposal of two is within the limit", helds)
	}
	for _, r := range batch.Requests {
		if d := requests[r.UserUUID]; d != nil && d.DecisionID == r.DecisionID {
			t.Errorf("%s re-proposed under the rejected decision id %s", r.UserUUID, r.DecisionID)
		}
	}

	// c1's re-proposal fails at once (the site has no OpenMRS connection), stamped with the
	// wall clock: it is due again long after this test's days, and the history says so.
	h.actionsSettled()
	rejectedKinds := []string{policy.HistoryWarned, policy.HistoryWarned, policy.HistoryWarned, policy.HistoryHeld, policy.HistoryRejected}
	h.checkHistory("cool", c1, append(slices.Clone(rejectedKinds), policy.HistoryWarned, policy.HistoryWarned, policy.HistoryWarned, policy.HistoryRequested, policy.HistoryFailureRecorded))
	h.checkHistory("cool", c3, append(slices.Clone(rejectedKinds[:4]), policy.HistoryCancelled, policy.HistoryRejected))
	for id, want := range map[string]string{c1: "due again", c3: "plan changed"} {
		hist, err := h.p.store.History(ctx, "cool", id)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(hist, func(e policy.HistoryEntry) bool { return e.Kind == policy.HistoryRejected })
		if i < 0 || hist[i].By != "bob" || !strings.Contains(hist[i].Reason, "the roster import went wrong") || !strings.Contains(hist[i].Reason, want) {
			t.Errorf("rejection of %s in the history = %+v; want bob's reason and %q", id, hist, want)
		}
		if id == c1 && !strings.Contains(hist[i].Reason, again.Format(time.RFC3339)) {
			t.Errorf("c1's rejection %q does not name the day it is proposed again (%s)", hist[i].Reason, again.Format(time.RFC3339))
		}
	}
}

// settingsFunc is a site's OpenMRS global properties as a function: tests make it fail.
type settingsFunc func(prefix string) (map[string]string, error)

func (f settingsFunc) SystemSettings(_ context.Context, prefix string) (map[string]string, error) {
	return f(prefix)
}

// TestTheCoolOffComesFromTheEffectivePolicy: a rejection takes rejection_cooloff from the
// policy in force (a global property over the file); with OpenMRS unreachable from the last
// policy a tick loaded, else from the file; a global property the policy cannot take refuses
// the rejection rather than guess (the batch stays pending, nothing retired).
func TestTheCoolOffComesFromTheEffectivePolicy(t *testing.T) {
	sites, err := siteconfig.Parse([]byte(`
sites:
  - id: s
    openmrs_url: http://openmrs.invalid/openmrs
    openmrs_user: dormant
    policy: {rejection_cooloff: 12d}
`))
	if err != nil {
		t.Fatal(err)
	}
	props := func(v string) settingsFunc {
		return func(string) (map[string]string, error) {
			return map[string]string{"dormant.rejectionCooloffDays": v}, nil
		}
	}
	down := settingsFunc(func(string) (map[string]string, error) { return nil, errors.New("connection refused") })
	lastGood := &sitePolicy{loaded: policy.Loaded{Policy: policy.Policy{RejectionCoolOff: 45 * day}}}
	tests := []struct {
		name     string
		site     string
		settings settingsSource
		last     *sitePolicy
		want     time.Duration
		wantErr  string
	}{
		{"a global property overrides the file", "s", props("20"), nil, 20 * day, ""},
		{"the file when OpenMRS sets nothing", "s", props(""), nil, 12 * day, ""},
		{"unreachable: the last good policy", "s", down, lastGood, 45 * day, ""},
		{"unreachable with no policy loaded yet: the file", "s", down, nil, 12 * day, ""},
		{"a value the policy cannot take refuses the rejection", "s", props("soon"), lastGood, 0, "dormant.rejectionCooloffDays"},
		{"a cool-off under a day refuses the rejection", "s", props("0.5"), lastGood, 0, "rejection_cooloff"},
		{"an unknown site", "elsewhere", props("20"), nil, 0, "not configured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(nil, zap.NewNop(), sites.Sites, map[string]settingsSource{"s": tc.settings})
			if tc.last != nil {
				e.policies["s"] = tc.last
			}
			got, err := e.rejectionCoolOff(context.Background(), tc.site)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("cool-off = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
