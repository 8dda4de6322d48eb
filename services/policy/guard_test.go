package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

func TestTickAccepted(t *testing.T) {
	tests := []struct {
		name       string
		last, tick time.Time
		want       bool
	}{
		{"the first tick is accepted", time.Time{}, day(0), true},
		{"a later tick is accepted", day(0), day(1), true},
		{"a repeated tick is ignored", day(1), day(1), false},
		{"an older tick is ignored", day(1), day(0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := policy.TickAccepted(tc.last, tc.tick); got != tc.want {
				t.Fatalf("TickAccepted = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBatchLimit(t *testing.T) {
	p := policy.DefaultPolicy() // 50 per tick, 5 %
	off := p
	off.MaxDeactivationsPerTick, off.MaxDeactivationsPercent = 0, 0
	abs := p
	abs.MaxDeactivationsPercent = 0
	tests := []struct {
		name   string
		p      policy.Policy
		active int
		want   int
	}{
		{"the percent limit binds on a mid-sized site", p, 400, 20},
		{"the absolute limit binds on a large site", p, 10000, 50},
		{"the percent limit rounds up", p, 410, 21},
		{"a small clinic may still retire one account", p, 10, 1},
		{"the absolute limit alone when percent is off", abs, 10, 50},
		{"no limit when both are off", off, 10, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := policy.BatchLimit(tc.p, tc.active); got != tc.want {
				t.Fatalf("BatchLimit = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestGuard(t *testing.T) {
	p := policy.DefaultPolicy()
	noFeedCheck := p
	noFeedCheck.FeedSilenceWindow = 0
	tests := []struct {
		name          string
		p             policy.Policy
		deactivations int
		active        int
		lastTick      time.Time
		tick          time.Time
		lastFeed      time.Time
		want          []string // fragments of the reasons, one per reason; none: not held
	}{
		{"an ordinary daily batch passes", p, 3, 400, day(0), day(1), day(0.9), nil},
		{"a batch above the absolute limit is held", p, 51, 100000, day(0), day(1), day(0.9), []string{"exceed the limit of 50"}},
		{"a batch above the percent limit is held", p, 21, 400, day(0), day(1), day(0.9), []string{"exceed the limit of 20"}},
		{"a clock jump beyond max_clock_jump is held", p, 1, 400, day(0), day(2.5), day(2.4), []string{"clock jumped"}},
		{"a jump of exactly max_clock_jump passes", p, 1, 400, day(0), day(2), day(1.9), nil},
		{"the first tick has no jump to measure", p, 1, 400, time.Time{}, day(2), day(1.9), nil},
		{"a feed silent beyond the window is held", p, 1, 400, day(9), day(10), day(6), []string{"no login event"}},
		{"a site that never had a feed is not held for silence", p, 1, 400, day(9), day(10), time.Time{}, nil},
		{"the feed check can be turned off", noFeedCheck, 1, 400, day(9), day(10), day(1), nil},
		{"every reason is given at once", p, 100, 400, day(0), day(10), day(1), []string{"limit", "clock jumped", "no login event"}},
		{"a tick without deactivations holds nothing", p, 0, 400, day(0), day(10), day(1), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hold, reasons := policy.Guard(tc.p, tc.deactivations, tc.active, tc.lastTick, tc.tick, tc.lastFeed)
			if hold != (len(tc.want) > 0) || len(reasons) != len(tc.want) {
				t.Fatalf("hold %v, reasons %q; want %q", hold, reasons, tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(reasons[i], w) {
					t.Fatalf("reason %q does not say %q", reasons[i], w)
				}
			}
		})
	}
}

func TestIDsAreDeterministicAndDistinct(t *testing.T) {
	st := policy.State{Rule: policy.RuleInactiveAfter, Anchor: day(0), Due: day(90), DeactivateOn: day(90), Warned: policy.Day}
	same := st
	same.Anchor = day(0).In(time.FixedZone("EAT", 3*3600))
	if policy.DecisionID("a", "u", st) != policy.DecisionID("a", "u", same) {
		t.Fatal("the same instant in another zone gives another decision id")
	}
	if len(policy.DecisionID("a", "u", st)) != 64 {
		t.Fatal("decision id is not a hex sha256")
	}
	newCycle := st
	newCycle.Anchor, newCycle.DeactivateOn = day(50), day(140)
	dry := st
	dry.DryRun = true
	ids := map[string]string{
		"decision":           policy.DecisionID("a", "u", st),
		"other site":         policy.DecisionID("b", "u", st),
		"other user":         policy.DecisionID("a", "v", st),
		"new cycle":          policy.DecisionID("a", "u", newCycle),
		"dry run":            policy.DecisionID("a", "u", dry),
		"warning 14":         policy.WarningID("a", "u", st, 14*policy.Day),
		"warning 7":          policy.WarningID("a", "u", st, 7*policy.Day),
		"warning new cycle":  policy.WarningID("a", "u", newCycle, 14*policy.Day),
		"warning other user": policy.WarningID("a", "v", st, 14*policy.Day),
	}
	seen := map[string]string{}
	for what, id := range ids {
		if other, dup := seen[id]; dup {
			t.Fatalf("%s and %s share id %s", what, other, id)
		}
		seen[id] = what
	}
	if policy.WarningID("a", "u", st, 7*policy.Day) != ids["warning 7"] {
		t.Fatal("warning id is not deterministic")
	}
}

func TestCutoffs(t *testing.T) {
	now := day(100)
	p := policy.DefaultPolicy()
	c := p.Cutoffs(now)
	// inactive_after: now - 90d + 14d + 2d; demo: now - 2d + 1d + 2d.
	if !c.ActivityBefore.Equal(day(26)) || !c.DemoCreatedBefore.Equal(day(101)) {
		t.Fatalf("cutoffs %+v", c)
	}
	p.CustomRules = []policy.CustomRule{{Name: "locums", Expr: "true", Action: policy.ActionShorten, Period: 30 * policy.Day}}
	if c := p.Cutoffs(now); !c.ActivityBefore.Equal(day(86)) {
		t.Fatalf("a shorten rule must widen the activity cutoff to the most inclusive bound: %v", c.ActivityBefore)
	}
}
