package postgres_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/storetest"
)

// BenchmarkCensus measures the admin overview's counts for a national site of a million
// users (10,000 with -short): before, every user streamed into Go (storetest.BruteForceCensus,
// what the overview did); after, the store's aggregate queries. Both run on the same data
// in the same run, so their ratio holds on any machine. docs/benchmarks.md has the figures.
//
//	go test -run '^$' -bench BenchmarkCensus -benchtime 3x ./postgres
func BenchmarkCensus(b *testing.B) {
	ctx := context.Background()
	now := benchNow
	// Every tenth user never logged in, one in twenty is retired, one in twenty has a plan,
	// one in a hundred an exemption; logins spread over 400 days, creations over 900. Of the
	// plans (numbered k = i/20): a third warned, one in ten requested, one in twenty-five in
	// dry run, deactivations spread over the next 60 days so some are due within the 30 the
	// overview counts and some not. Each is counted apart from the others by i/20, not
	// i % 20 (which is 2 for every plan), so every count of the census is non-zero.
	seed := []string{`
INSERT INTO policy_users (site, user_uuid, username, roles, properties, created_at, retired, synced_at, last_login_at)
SELECT 'national', 'u' || lpad(i::text, 8, '0'), 'user' || i, '["Provider","Nurse"]', '{"ward":"3"}',
       $1::timestamptz - make_interval(days => i % 900), i % 20 = 1, $1::timestamptz,
       CASE WHEN i % 10 = 0 THEN NULL ELSE $1::timestamptz - make_interval(secs => (i::bigint * 7919) % (400 * 86400)) END
FROM generate_series(1, $2::int) AS i`, `
INSERT INTO policy_states (site, user_uuid, rule, anchor, due, deactivate_on, warned_ns, requested, dry_run)
SELECT 'national', 'u' || lpad(i::text, 8, '0'), 'inactive_after', $1::timestamptz - interval '80 days',
       $1::timestamptz + make_interval(days => (i / 20) % 60), $1::timestamptz + make_interval(days => (i / 20) % 60),
       CASE WHEN i % 3 = 0 THEN 1209600000000000 ELSE 0 END, (i / 20) % 10 = 3, (i / 20) % 25 = 7
FROM generate_series(1, $2::int) AS i WHERE i % 20 = 2`, `
INSERT INTO policy_exemptions (site, user_uuid, reason, by_user, until, created_at)
SELECT 'national', 'u' || lpad(i::text, 8, '0'), 'transfer', 'admin', NULL, $1::timestamptz - interval '1 day'
FROM generate_series(1, $2::int) AS i WHERE i % 100 = 3`}
	s, users := seedNationalSite(b, seed...)
	q := policy.CensusQuery{Now: now, Baseline: now.Add(-500 * policy.Day), BucketDays: 15, Buckets: 13, DueBefore: now.Add(30 * policy.Day)}
	got, err := s.Census(ctx, "national", q)
	if err != nil {
		b.Fatal(err)
	}
	want, err := storetest.BruteForceCensus(ctx, s, "national", q)
	if err != nil {
		b.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || got.Active+got.Retired != users {
		b.Fatalf("the census disagrees with the brute force on the benchmark's data:\nstore %+v\nbrute %+v", got, want)
	}
	// A count the seed leaves at zero is a count the benchmark does not measure.
	if got.NeverLoggedIn == 0 || got.Exempt == 0 || got.Warned == 0 || got.Due == 0 || got.Requested == 0 || got.Due == got.Active {
		b.Fatalf("the seed leaves a state out: %+v", got)
	}
	b.Logf("census: %+v", got)
	b.Run("before-every-user-into-go", func(b *testing.B) {
		for b.Loop() {
			if _, err := storetest.BruteForceCensus(ctx, s, "national", q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("after-census-in-sql", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Census(ctx, "national", q); err != nil {
				b.Fatal(err)
			}
		}
	})
}
