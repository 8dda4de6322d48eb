package audit

import (
	"strconv"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

func TestParseCycleReadsTheDecisionsReasons(t *testing.T) {
	tests := []struct {
		name, reason string
		ok           bool
		anchor       string
		rule         string
		period       time.Duration
	}{
		{"a warning", "14 days left; no login since 2026-01-04 (76 days); rule inactive_after (90d)", true, "2026-01-04", "inactive_after", 90 * Day},
		{"never logged in", "no login recorded; inactive since 2026-02-01, the later of creation and dormant's start (90 days); rule inactive_after (90d)", true, "2026-02-01", "inactive_after", 90 * Day},
		{"a demo account", "demo or test account created 2026-03-01 (2 days ago); rule demo_max_age (2d)", true, "2026-03-01", "demo_max_age", 2 * Day},
		{"a custom rule of a day and a half", "no login since 2026-03-01 (2 days); rule locums.x (1d12h0m0s)", true, "2026-03-01", "locums.x", 36 * time.Hour},
		{"a hold's batch line", "3 deactivations held: batch larger than max_deactivations_per_tick", false, "", "", 0},
		{"a cancellation", "logged in at 2026-03-01T10:00:00Z", false, "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := parseCycle(tc.reason)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (c.anchor.Format(time.DateOnly) != tc.anchor || c.rule != tc.rule || c.period != tc.period) {
				t.Fatalf("= %+v, want %s %s %s", c, tc.anchor, tc.rule, tc.period)
			}
		})
	}
}

func TestBuildKeepsOnlyTheCasesOfThePeriod(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d) }
	warn := func(user string, at time.Time, left int, anchor string) policy.HistoryEntry {
		return policy.HistoryEntry{UserUUID: user, Kind: policy.HistoryWarned, At: at, By: "policy", PolicyVersion: "v1",
			Reason: strconv.Itoa(left) + " days left; no login since " + anchor + " (76 days); rule inactive_after (90d)"}
	}
	history := []policy.HistoryEntry{
		// early: warned, logged in before the threshold (2026-04-01): never passed it.
		warn("early", day(76), 14, "2026-01-01"),
		{UserUUID: "early", Kind: policy.HistoryCancelled, At: day(80), By: "policy", Reason: "logged in at 2026-03-21T08:00:00Z"},
		// late: warned, logged in after the threshold: passed it, kept.
		warn("late", day(76), 14, "2026-01-01"),
		{UserUUID: "late", Kind: policy.HistoryCancelled, At: day(95), By: "policy", Reason: "logged in at 2026-04-05T08:00:00Z"},
		// gone: retired on day 91, before a period starting on day 100.
		warn("gone", day(76), 14, "2026-01-01"),
		{UserUUID: "gone", Kind: policy.HistoryRequested, At: day(90), By: "policy", EventID: "d-gone", PolicyVersion: "v1", Reason: "no login since 2026-01-01 (90 days); rule inactive_after (90d)"},
	}
	actions := []Action{{DecisionID: "d-gone", UserUUID: "gone", Username: "gone", Outcome: "deactivated", At: day(91)}}
	tests := []struct {
		name     string
		from, to time.Time
		want     map[string]string
	}{
		{"the whole quarter", day(0), day(120), map[string]string{"late": StatusKept, "gone": StatusRetired}},
		{"after the retirement and the login", day(100), day(120), map[string]string{}},
		{"before the threshold", day(0), day(85), map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Build(Facts{Site: "s", From: tc.from, To: tc.to, GeneratedAt: day(200), History: history, Actions: actions})
			got := map[string]string{}
			for _, c := range r.Cases {
				got[c.UserUUID] = c.Status
			}
			if len(got) != len(tc.want) {
				t.Fatalf("cases = %v, want %v", got, tc.want)
			}
			for u, s := range tc.want {
				if got[u] != s {
					t.Fatalf("cases = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
