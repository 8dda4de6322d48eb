// Package sqlite is login-ingest's store on the embedded SQLite database.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	ingest "github.com/dormant-dev/dormant/services/login-ingest"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Component names this store's migrations.
const Component = "login-ingest"

// Store is the last-login store on SQLite.
//
// Times are stored as INTEGER unix microseconds: SQLite has no time type, an integer is exact
// (text or REAL would round or compare as strings in ways that depend on formatting), sorts
// and compares as a number (max() in the upsert, the (site, last_login_at) index), and
// microseconds are the precision PostgreSQL keeps, so both engines hold the same values.
type Store struct {
	write  *sql.DB
	read   *sql.DB
	upsert *sql.Stmt
}

var _ ingest.Store = (*Store)(nil)

// Open migrates the schema and returns the store. The database stays the caller's; Close
// releases only the store's prepared statement.
func Open(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := db.MigrateEmbedded(ctx, Component, sqldb.SQLite, migrations, "migrations"); err != nil {
		return nil, err
	}
	stmt, err := db.SQL().PrepareContext(ctx, upsert)
	if err != nil {
		return nil, fmt.Errorf("login-ingest sqlite store: prepare upsert: %w", err)
	}
	return &Store{write: db.SQL(), read: db.ReadSQL(), upsert: stmt}, nil
}

// upsert has the same semantics as the PostgreSQL statement: right-hand sides read the old
// row, so previous, username and location change only when the login moves forward; rows
// already later than the login are left alone and return nothing (sql.ErrNoRows); equal rows
// return their stored values, so a redelivery yields the same record.
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
RETURNING username, location_uuid, last_login_at, previous_login_at`

// RecordLogins implements ingest.Store: one write transaction per batch, running the
// prepared upsert once per user of the coalesced batch.
func (s *Store) RecordLogins(ctx context.Context, logins []ingest.Login) (_ []ingest.Record, err error) {
	batch := ingest.Coalesce(logins)
	if len(batch) == 0 {
		return nil, nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("record %d logins: begin: %w", len(batch), err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt := tx.StmtContext(ctx, s.upsert)
	defer stmt.Close()
	now := time.Now().UnixMicro()
	out := make([]ingest.Record, 0, len(batch))
	for _, l := range batch {
		r := ingest.Record{Site: l.Site, UserUUID: l.UserUUID}
		var last int64
		var prev sql.NullInt64
		err := stmt.QueryRowContext(ctx, l.Site, l.UserUUID, l.Username, l.LocationUUID, l.At.UnixMicro(), now).
			Scan(&r.Username, &r.LocationUUID, &last, &prev)
		if errors.Is(err, sql.ErrNoRows) {
			continue // the stored login is later than this one
		}
		if err != nil {
			return nil, fmt.Errorf("record login of %s at %s: %w", l.UserUUID, l.Site, err)
		}
		r.LastLoginAt, r.PreviousLoginAt = fromMicros(last), nullableMicros(prev)
		out = append(out, r)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record %d logins: commit: %w", len(batch), err)
	}
	return out, nil
}

// LastLogin implements ingest.Store.
func (s *Store) LastLogin(ctx context.Context, site, userUUID string) (ingest.Record, error) {
	r := ingest.Record{Site: site, UserUUID: userUUID}
	var last int64
	var prev sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT username, location_uuid, last_login_at, previous_login_at
		FROM last_login WHERE site = ? AND user_uuid = ?`, site, userUUID).Scan(&r.Username, &r.LocationUUID, &last, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		return ingest.Record{}, ingest.ErrNotFound
	}
	if err != nil {
		return ingest.Record{}, fmt.Errorf("read last login of %s at %s: %w", userUUID, site, err)
	}
	r.LastLoginAt, r.PreviousLoginAt = fromMicros(last), nullableMicros(prev)
	return r, nil
}

// Close implements ingest.Store: it releases the prepared statement; the database belongs to
// the caller.
func (s *Store) Close() error {
	if err := s.upsert.Close(); err != nil {
		return fmt.Errorf("close login-ingest sqlite store: %w", err)
	}
	return nil
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullableMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}
