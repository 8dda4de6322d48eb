package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	ingest "github.com/dormant-dev/dormant/services/login-ingest"
	"github.com/dormant-dev/dormant/services/login-ingest/postgres"
	"github.com/dormant-dev/dormant/services/login-ingest/storetest"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

func open(t testing.TB) (*sqldb.DB, ingest.Store) {
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
	return db, s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ingest.Store { _, s := open(t); return s })
}

// setBased is BenchmarkRecordLogins' last figure, so that BenchmarkNaive can state the ratio.
var setBased float64

func BenchmarkRecordLogins(b *testing.B) {
	_, s := open(b)
	setBased = storetest.Benchmark(b, func(ctx context.Context, ls []ingest.Login) error {
		_, err := s.RecordLogins(ctx, ls)
		return err
	})
}

// BenchmarkNaive is what RecordLogins replaces: one upsert statement per event, each its own
// transaction, with the same semantics and RETURNING. Run it after BenchmarkRecordLogins to
// get the ratio.
func BenchmarkNaive(b *testing.B) {
	db, _ := open(b)
	rate := storetest.Benchmark(b, func(ctx context.Context, ls []ingest.Login) error {
		return naive(ctx, db.Pool(), ls)
	})
	if setBased > 0 {
		b.ReportMetric(setBased/rate, "x_slower_than_set_based")
	}
}

func naive(ctx context.Context, pool *pgxpool.Pool, logins []ingest.Login) error {
	const upsert = `
INSERT INTO last_login AS t (site, user_uuid, username, location_uuid, last_login_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (site, user_uuid) DO UPDATE SET
    previous_login_at = CASE WHEN EXCLUDED.last_login_at > t.last_login_at THEN t.last_login_at ELSE t.previous_login_at END,
    username          = CASE WHEN EXCLUDED.last_login_at > t.last_login_at THEN EXCLUDED.username ELSE t.username END,
    location_uuid     = CASE WHEN EXCLUDED.last_login_at > t.last_login_at THEN EXCLUDED.location_uuid ELSE t.location_uuid END,
    updated_at        = CASE WHEN EXCLUDED.last_login_at > t.last_login_at THEN now() ELSE t.updated_at END,
    last_login_at     = GREATEST(t.last_login_at, EXCLUDED.last_login_at)
WHERE EXCLUDED.last_login_at >= t.last_login_at
RETURNING previous_login_at`
	for _, l := range logins {
		var prev *time.Time
		err := pool.QueryRow(ctx, upsert, l.Site, l.UserUUID, l.Username, l.LocationUUID, l.At.Truncate(ingest.Precision)).Scan(&prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("upsert login of %s: %w", l.UserUUID, err)
		}
	}
	return nil
}
