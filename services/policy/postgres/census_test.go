package postgres_test

import (
	"context"
	"testing"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/testenv"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/postgres"
	"github.com/dormant-dev/dormant/services/policy/storetest"
)

// openStore opens a store of its own; timeZone, when set, is the sessions' TimeZone.
func openStore(t testing.TB, timeZone string) *postgres.Store {
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
	return s
}

func TestCensusConformance(t *testing.T) {
	storetest.RunCensus(t, func(t *testing.T) policy.Store { return openStore(t, "") })
}

// TestCensusConformanceInAFarTimeZone: the census compares instants, so a server or session
// set to a zone far from UTC (+12:45/+13:45) counts exactly the same.
func TestCensusConformanceInAFarTimeZone(t *testing.T) {
	storetest.RunCensus(t, func(t *testing.T) policy.Store { return openStore(t, "Pacific/Chatham") })
}
