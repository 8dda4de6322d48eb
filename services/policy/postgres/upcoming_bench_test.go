package postgres_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/storetest"
)

// BenchmarkUpcoming measures the admin page's upcoming list for a national site of a million
// users (10,000 with -short), 5% of them with a plan: before, every user streamed into Go,
// filtered, sorted and paged there (storetest.BruteForceUpcoming, what the page did); after,
// the store's Upcoming. Both run on the same data in the same run, after a check that they
// give the same page. docs/benchmarks.md has the figures.
//
//	go test -run '^$' -bench BenchmarkUpcoming -benchtime 3x ./postgres
func BenchmarkUpcoming(b *testing.B) {
	ctx := context.Background()
	now := benchNow
	// As BenchmarkCensus's site, with names: one in twenty users has a plan, due over the
	// next 40 days (so about 1,250 share each day and the uuid breaks their ties), a third
	// of them warned, one in ten requested; one in a hundred users is exempt. A plan's day
	// comes from i/20: i % 40 is 2 or 22 for every plan (i % 20 = 2), two days for all.
	seed := []string{`
INSERT INTO policy_users (site, user_uuid, username, given_name, family_name, roles, properties, created_at, retired, synced_at, last_login_at)
SELECT 'national', 'u' || lpad(i::text, 8, '0'), 'user' || i,
       (ARRAY['Ada','Émile','Grace','Ngozi','Иван','Zoë'])[i % 6 + 1], (ARRAY['Okafor','Lovelace','Hopper','Şahin'])[i % 4 + 1],
       '["Provider","Nurse"]', '{"ward":"3"}',
       $1::timestamptz - make_interval(days => i % 900), i % 20 = 1, $1::timestamptz,
       CASE WHEN i % 10 = 0 THEN NULL ELSE $1::timestamptz - make_interval(secs => (i::bigint * 7919) % (400 * 86400)) END
FROM generate_series(1, $2::int) AS i`, `
INSERT INTO policy_states (site, user_uuid, rule, anchor, due, deactivate_on, warned_ns, requested, dry_run)
SELECT 'national', 'u' || lpad(i::text, 8, '0'), (ARRAY['inactive_after','never_logged_in','demo'])[i % 3 + 1],
       $1::timestamptz - make_interval(days => 80 + i % 7),
       $1::timestamptz + make_interval(days => (i / 20) % 40), $1::timestamptz + make_interval(days => (i / 20) % 40),
       CASE WHEN i % 3 = 0 THEN 1209600000000000 ELSE 0 END, i / 20 % 10 = 0, false
FROM generate_series(1, $2::int) AS i WHERE i % 20 = 2`, `
INSERT INTO policy_exemptions (site, user_uuid, reason, by_user, until, created_at)
SELECT 'national', 'u' || lpad(i::text, 8, '0'), 'transfer', 'admin', NULL, $1::timestamptz - interval '1 day'
FROM generate_series(1, $2::int) AS i WHERE i % 100 = 42`}
	s, _ := seedNationalSite(b, seed...)
	queries := []struct {
		name string
		q    policy.UpcomingQuery
	}{
		{"first-page", policy.UpcomingQuery{Now: now, Page: 1, PageSize: 50}},
		{"last-page-by-user", policy.UpcomingQuery{Now: now, Sort: policy.SortUsername, PageSize: 50}}, // Page set below
		{"past-the-last-page", policy.UpcomingQuery{Now: now, Page: 1 << 20, PageSize: 50}},
		{"search-name", policy.UpcomingQuery{Now: now, Search: "ИВАН HOP", Page: 2, PageSize: 50}},
	}
	first, err := s.Upcoming(ctx, "national", queries[0].q)
	if err != nil {
		b.Fatal(err)
	}
	queries[1].q.Page = first.Pages
	for _, tc := range queries {
		got, err := s.Upcoming(ctx, "national", tc.q)
		if err != nil {
			b.Fatal(err)
		}
		want, err := storetest.BruteForceUpcoming(ctx, s, "national", tc.q)
		if err != nil {
			b.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) || len(got.Rows) == 0 {
			b.Fatalf("%s: the store's page disagrees with the brute force on the benchmark's data:\nstore %d rows of %d\nbrute %d rows of %d",
				tc.name, len(got.Rows), got.Total, len(want.Rows), want.Total)
		}
		b.Logf("%s: page %d of %d, %d users", tc.name, got.Page, got.Pages, got.Total)
	}
	for _, tc := range queries {
		b.Run(tc.name+"/before-every-user-into-go", func(b *testing.B) {
			for b.Loop() {
				if _, err := storetest.BruteForceUpcoming(ctx, s, "national", tc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/after-page-in-sql", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Upcoming(ctx, "national", tc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
