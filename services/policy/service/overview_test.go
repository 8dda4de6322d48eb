package service

import (
	"slices"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/policy/admin"
)

// TestOverviewCountsInTheStore: the admin overview's tiles and age chart come from the
// store's census, measured from the site's baseline for users never seen logging in, on
// both engines.
func TestOverviewCountsInTheStore(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			h := newHarness(t, e.open(t), `sites:
  - id: clinic-a
`)
			const site = "clinic-a"
			t0 := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
			created := t0.Add(-400 * day)
			users := []struct {
				uuid, name string
				login      time.Time
				retired    bool
			}{
				{"5e0c1a2b-0000-4000-8000-000000000001", "ana", t0.Add(-2 * day), false},
				{"5e0c1a2b-0000-4000-8000-000000000002", "ben", t0.Add(-100 * day), false},
				{"5e0c1a2b-0000-4000-8000-000000000003", "cleo", time.Time{}, false},
				{"5e0c1a2b-0000-4000-8000-000000000004", "dan", t0.Add(-300 * day), true},
			}
			for _, u := range users {
				h.sync(site, events.UserSynced{UserUUID: u.uuid, Username: u.name, CreatedAt: created, Retired: u.retired})
				if !u.login.IsZero() {
					h.login(site, u.uuid, u.name, u.login)
				}
			}
			h.settle()
			h.tick(t0) // the baseline: cleo, never seen, is measured from it
			now := t0.Add(20 * day)
			o, err := adminBackend{h.p}.Overview(h.ctx, site, now)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]int, admin.AgeBucketCount)
			want[1] = 2 // ana (22 days) and cleo (20 days since the baseline)
			want[8] = 1 // ben (120 days)
			if o.ActiveUsers != 3 || o.NeverLoggedIn != 1 || o.AgeBucketDays != admin.AgeBucketDays || !slices.Equal(o.AgeBuckets, want) {
				t.Fatalf("overview: active %d, never logged in %d, buckets of %d days %v; want 3, 1, %d days %v",
					o.ActiveUsers, o.NeverLoggedIn, o.AgeBucketDays, o.AgeBuckets, admin.AgeBucketDays, want)
			}
		})
	}
}
