// Package postgres is login-ingest's store on PostgreSQL.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	ingest "github.com/dormant-dev/dormant/services/login-ingest"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Component names this store's migrations.
const Component = "login-ingest"

// Store is the last-login store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ ingest.Store = (*Store)(nil)

// Open migrates the schema and returns the store. The pool stays the caller's.
func Open(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := db.MigrateEmbedded(ctx, Component, sqldb.Postgres, migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{pool: db.Pool()}, nil
}

// upsert stores a whole batch in one statement. The batch is coalesced (one row per user),
// so no row is hit twice, and WITH ORDINALITY ... ORDER BY keeps the order Coalesce sorted it
// in: concurrent batches lock shared rows in the same order and cannot deadlock.
//
// Every right-hand side of the UPDATE reads the old row (t), so the CASEs see the last login
// before this batch: previous, username and location change only when it moves forward.
// The WHERE leaves rows already later than the batch untouched, and RETURNING (the new row)
// then leaves them out; rows moved forward or already exactly equal come back. As the batch
// has one row per user, every returned row's last_login_at is the batch's value for that
// user: the returned set is exactly the one the publisher must (re)publish.
const upsert = `
INSERT INTO last_login AS t (site, user_uuid, username, location_uuid, last_login_at)
SELECT site, user_uuid, username, location_uuid, last_login_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
     WITH ORDINALITY AS b(site, user_uuid, username, location_uuid, last_login_at, n)
ORDER BY n
ON CONFLICT (site, user_uuid) DO UPDATE SET
    previous_login_at = CASE WHEN EXCLUDED.last_login_at > t.last_login_at THEN t.last_login_at ELSE t.previous_login_at END,
    username          = CASE WHEN EXCLUDED.last_login_at > t.last_login_at THEN EXCLUDED.username ELSE t.username END,
    location_uuid     = CASE WHEN EXCLUDED.last_login_at > t.last_login_at THEN EXCLUDED.location_uuid ELSE t.location_uuid END,
    updated_at        = CASE WHEN EXCLUDED.last_login_at > t.last_login_at THEN now() ELSE t.updated_at END,
    last_login_at     = GREATEST(t.last_login_at, EXCLUDED.last_login_at)
WHERE EXCLUDED.last_login_at >= t.last_login_at
RETURNING site, user_uuid, username, location_uuid, last_login_at, previous_login_at`

// RecordLogins implements ingest.Store. The single statement is its own transaction.
func (s *Store) RecordLogins(ctx context.Context, logins []ingest.Login) ([]ingest.Record, error) {
	batch := ingest.Coalesce(logins)
	if len(batch) == 0 {
		return nil, nil
	}
	sites := make([]string, len(batch))
	users := make([]string, len(batch))
	names := make([]string, len(batch))
	locs := make([]string, len(batch))
	ats := make([]time.Time, len(batch))
	for i, l := range batch {
		sites[i], users[i], names[i], locs[i], ats[i] = l.Site, l.UserUUID, l.Username, l.LocationUUID, l.At
	}
	rows, err := s.pool.Query(ctx, upsert, sites, users, names, locs, ats)
	if err != nil {
		return nil, fmt.Errorf("record %d logins: %w", len(batch), err)
	}
	out, err := pgx.CollectRows(rows, scanRecord)
	if err != nil {
		return nil, fmt.Errorf("record %d logins: %w", len(batch), err)
	}
	return out, nil
}

// LastLogin implements ingest.Store.
func (s *Store) LastLogin(ctx context.Context, site, userUUID string) (ingest.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT site, user_uuid, username, location_uuid, last_login_at, previous_login_at
		FROM last_login WHERE site = $1 AND user_uuid = $2`, site, userUUID)
	if err != nil {
		return ingest.Record{}, fmt.Errorf("read last login of %s at %s: %w", userUUID, site, err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRecord)
	if errors.Is(err, pgx.ErrNoRows) {
		return ingest.Record{}, ingest.ErrNotFound
	}
	if err != nil {
		return ingest.Record{}, fmt.Errorf("read last login of %s at %s: %w", userUUID, site, err)
	}
	return r, nil
}

// Close implements ingest.Store; the pool belongs to the caller.
func (s *Store) Close() error { return nil }

func scanRecord(row pgx.CollectableRow) (ingest.Record, error) {
	var r ingest.Record
	err := row.Scan(&r.Site, &r.UserUUID, &r.Username, &r.LocationUUID, &r.LastLoginAt, &r.PreviousLoginAt)
	r.LastLoginAt = r.LastLoginAt.UTC()
	if r.PreviousLoginAt != nil {
		p := r.PreviousLoginAt.UTC()
		r.PreviousLoginAt = &p
	}
	return r, err
}
