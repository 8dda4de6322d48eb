package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	ingest "github.com/dormant-dev/dormant/services/login-ingest"
	"github.com/dormant-dev/dormant/services/login-ingest/sqlite"
	"github.com/dormant-dev/dormant/services/login-ingest/storetest"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
)

func open(t testing.TB) (*sqldb.DB, ingest.Store) {
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
		return naive(ctx, db.SQL(), ls)
	})
	if setBased > 0 {
		b.ReportMetric(setBased/rate, "x_slower_than_set_based")
	}
}

func naive(ctx context.Context, db *sql.DB, logins []ingest.Login) error {
	const upsert = `
INSERT INTO last_login (site, user_uuid, username, location_uuid, last_login_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (site, user_uuid) DO UPDATE SET
    previous_login_at = CASE WHEN excluded.last_login_at > last_login.last_login_at THEN last_login.last_login_at ELSE last_login.previous_login_at END,
    username          = CASE WHEN excluded.last_login_at > last_login.last_login_at THEN excluded.username ELSE last_login.username END,
    location_uuid     = CASE WHEN excluded.last_login_at > last_login.last_login_at THEN excluded.location_uuid ELSE last_login.location_uuid END,
    updated_at        = CASE WHEN excluded.last_login_at > last_login.last_login_at THEN excluded.updated_at ELSE last_login.updated_at END,
    last_login_at     = max(last_login.last_login_at, excluded.last_login_at)
WHERE excluded.last_login_at >= last_login.last_login_at
RETURNING previous_login_at`
	for _, l := range logins {
		var prev sql.NullInt64
		err := db.QueryRowContext(ctx, upsert, l.Site, l.UserUUID, l.Username, l.LocationUUID, l.At.UnixMicro(), time.Now().UnixMicro()).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("upsert login of %s: %w", l.UserUUID, err)
		}
	}
	return nil
}

// TestTwoProcessesOnOneFile writes from two handles on the same file, as two processes
// would: each has its own writer connection, so they meet in SQLite's lock, not in Go.
func TestTwoProcessesOnOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores [2]ingest.Store
	for i := range stores {
		db, err := sqldb.Open(ctx, path, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		if stores[i], err = sqlite.Open(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	errs := make(chan error, len(stores))
	for i, s := range stores {
		go func() {
			for b := range 50 {
				var ls []ingest.Login
				for u := range 20 {
					// Both write every user; the second process's logins are the later ones.
					ls = append(ls, ingest.Login{Site: "a", UserUUID: fmt.Sprintf("u%02d", u), At: t0.Add(time.Duration(b*2+i) * time.Minute)})
				}
				if _, err := s.RecordLogins(ctx, ls); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for u := range 20 {
		r, err := stores[0].LastLogin(ctx, "a", fmt.Sprintf("u%02d", u))
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(99 * time.Minute); !r.LastLoginAt.Equal(want) {
			t.Fatalf("u%02d ended at %s, want %s", u, r.LastLoginAt, want)
		}
	}
}
