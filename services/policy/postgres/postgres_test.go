package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/testenv"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/postgres"
	"github.com/dormant-dev/dormant/services/policy/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) policy.Store { return openStore(t, "") })
}

// openStore opens a store of its own; timeZone, when set, is the sessions' TimeZone.
func openStore(t testing.TB, timeZone string) *postgres.Store {
	_, s := openDB(t, timeZone)
	return s
}

// openDB opens a store of its own (testenv gives each test its own schema) and the
// database under it, for tests that write rows the store's API does not.
func openDB(t testing.TB, timeZone string) (*sqldb.DB, *postgres.Store) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	if timeZone != "" {
		url += "&timezone=" + timeZone
	}
	db, err := sqldb.Open(ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if timeZone != "" {
		var got string
		if err := db.Pool().QueryRow(ctx, "SHOW TimeZone").Scan(&got); err != nil || got != timeZone {
			t.Fatalf("session TimeZone = %q, %v; want %s", got, err, timeZone)
		}
	}
	s, err := postgres.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return db, s
}

// benchNow is the instant the benchmarks' national site is seeded and measured at.
var benchNow = time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)

// seedNationalSite opens a store of its own and fills site "national" with a million
// users (10,000 with -short) by the seed statements, each run with $1 = benchNow and
// $2 = the number of users, then ANALYZEs so the planner sees the site's real size.
func seedNationalSite(b *testing.B, seed ...string) (s *postgres.Store, users int) {
	ctx := context.Background()
	users = 1_000_000
	if testing.Short() {
		users = 10_000
	}
	db, s := openDB(b, "")
	start := time.Now()
	for _, q := range seed {
		if _, err := db.Pool().Exec(ctx, q, benchNow, users); err != nil {
			b.Fatalf("seed %d users: %v", users, err)
		}
	}
	if _, err := db.Pool().Exec(ctx, `ANALYZE policy_users, policy_states, policy_exemptions`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d users in %s", users, time.Since(start).Round(time.Millisecond))
	return s, users
}
