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

func openStore(t testing.TB) *postgres.Store {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, testenv.Postgres(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	s, err := postgres.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCensusConformance(t *testing.T) {
	storetest.RunCensus(t, func(t *testing.T) policy.Store { return openStore(t) })
}
