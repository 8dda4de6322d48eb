package service

import (
	"slices"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy/actuator"
)

// TestOverviewCountsRetirementsInTheActuatorStore: "retired this month" and the weekly bars
// are counted in the actuator's store, at exact week and month starts, on both engines.
func TestOverviewCountsRetirementsInTheActuatorStore(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			h := newHarness(t, e.open(t), `sites:
  - id: clinic-a
`)
			const site = "clinic-a"
			now := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC) // a Wednesday
			week := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC) // its Monday: the last bar
			recs := []struct {
				at      time.Time
				outcome actuator.Outcome
			}{
				{week.Add(day), actuator.OutcomeDeactivated},                                    // last bar, this month
				{week, actuator.OutcomeDeactivated},                                             // last bar: a week starts at midnight
				{week.Add(-time.Microsecond), actuator.OutcomeDeactivated},                      // the bar before
				{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), actuator.OutcomeDeactivated},     // week of Oct 26, this month
				{time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC), actuator.OutcomeDeactivated}, // week of Oct 26, last month
				{week.AddDate(0, 0, -77), actuator.OutcomeDeactivated},                          // the first bar
				{week.AddDate(0, 0, -77).Add(-time.Hour), actuator.OutcomeDeactivated},          // before the chart
				{week.Add(day), actuator.OutcomeFailed},                                         // not a retirement
				{now.Add(time.Hour), actuator.OutcomeDeactivated},                               // a clock ahead: last bar, this month
			}
			for i, r := range recs {
				if err := h.p.actuatorStore.Record(h.ctx, actuator.Record{Site: site, DecisionID: string(rune('a' + i)), UserUUID: "u", Outcome: r.outcome,
					DecidedAt: r.at, RecordedAt: r.at}); err != nil {
					t.Fatal(err)
				}
			}
			o, err := adminBackend{h.p}.Overview(h.ctx, site, now)
			if err != nil {
				t.Fatal(err)
			}
			var bars []int
			for i, w := range o.RetiredPerWeek {
				if want := week.AddDate(0, 0, -7*(11-i)); !w.WeekStart.Equal(want) {
					t.Fatalf("bar %d starts %s, want %s", i, w.WeekStart, want)
				}
				bars = append(bars, w.Count)
			}
			if want := []int{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 3}; !slices.Equal(bars, want) || o.RetiredThisMonth != 5 {
				t.Fatalf("weekly bars %v, this month %d; want %v, 5", bars, o.RetiredThisMonth, want)
			}
		})
	}
}
