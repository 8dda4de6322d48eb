package sqlite_test

import (
	"context"
	"testing"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/sqlite"
	"github.com/dormant-dev/dormant/services/policy/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, openStore)
}

// openStore opens a store of its own in a fresh data directory, for the conformance suites.
func openStore(t *testing.T) policy.Store {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	s, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
