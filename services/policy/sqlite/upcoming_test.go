package sqlite_test

import (
	"context"
	"testing"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/sqlite"
	"github.com/dormant-dev/dormant/services/policy/storetest"
)

func TestUpcomingConformance(t *testing.T) {
	storetest.RunUpcoming(t, func(t *testing.T) policy.Store {
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
	})
}
