package roster

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Component names the roster's migrations, apart from the policy store's, so the two number
// their files independently.
const Component = "roster"

// Known is what the last sync recorded for one user.
type Known struct {
	UUID        string
	Fingerprint string
	// PersonUUID and PersonDisplay are the person as GET /user?v=full showed it when
	// GivenName and FamilyName were read from GET /person: while both stay the same, the names
	// are taken from here instead of asking again.
	PersonUUID, PersonDisplay string
	GivenName, FamilyName     string
}

// Checkpoint is a site's sync state: where a sync in progress resumes and what the last
// finished one saw.
type Checkpoint struct {
	// Running is true from the first committed batch of a sync until it finishes.
	Running bool
	// NextIndex is the startIndex of GET /user the sync in progress resumes from.
	NextIndex int
	StartedAt time.Time
	// Read and Published count the users of the sync in progress (or the last one, once
	// finished), across restarts.
	Read, Published int
	// LastTotal is how many users the last finished sync read: the progress's total.
	LastTotal       int
	LastCompletedAt time.Time
}

// Store keeps the roster's fingerprints and checkpoints, on PostgreSQL or SQLite.
type Store struct {
	pool   *pgxpool.Pool // PostgreSQL
	write  *sql.DB       // SQLite
	read   *sql.DB       // SQLite
	engine sqldb.Engine
}

// OpenStore migrates the roster's tables on db's engine and returns the store. db stays the
// caller's.
func OpenStore(ctx context.Context, db *sqldb.DB) (*Store, error) {
	switch db.Engine() {
	case sqldb.Postgres:
		if err := db.MigrateEmbedded(ctx, Component, sqldb.Postgres, migrations, "migrations/postgres"); err != nil {
			return nil, err
		}
		return &Store{pool: db.Pool(), engine: sqldb.Postgres}, nil
	case sqldb.SQLite:
		if err := db.MigrateEmbedded(ctx, Component, sqldb.SQLite, migrations, "migrations/sqlite"); err != nil {
			return nil, err
		}
		return &Store{write: db.SQL(), read: db.ReadSQL(), engine: sqldb.SQLite}, nil
	default:
		return nil, fmt.Errorf("roster store: unsupported engine %s", db.Engine())
	}
}

// Checkpoint returns the site's checkpoint; a site never synced has the zero Checkpoint.
func (s *Store) Checkpoint(ctx context.Context, site string) (Checkpoint, error) {
	var cp Checkpoint
	if s.engine == sqldb.Postgres {
		var started, completed *time.Time
		err := s.pool.QueryRow(ctx, `SELECT running, next_index, started_at, users_read, users_published, last_total, last_completed_at
			FROM roster_checkpoints WHERE site = $1`, site).
			Scan(&cp.Running, &cp.NextIndex, &started, &cp.Read, &cp.Published, &cp.LastTotal, &completed)
		if errors.Is(err, pgx.ErrNoRows) {
			return Checkpoint{}, nil
		}
		if err != nil {
			return Checkpoint{}, fmt.Errorf("read roster checkpoint of %s: %w", site, err)
		}
		cp.StartedAt, cp.LastCompletedAt = deref(started), deref(completed)
		return cp, nil
	}
	var started, completed sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT running, next_index, started_at, users_read, users_published, last_total, last_completed_at
		FROM roster_checkpoints WHERE site = ?`, site).
		Scan(&cp.Running, &cp.NextIndex, &started, &cp.Read, &cp.Published, &cp.LastTotal, &completed)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, nil
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read roster checkpoint of %s: %w", site, err)
	}
	cp.StartedAt, cp.LastCompletedAt = fromMicros(started), fromMicros(completed)
	return cp, nil
}

// Known returns what the last sync recorded for those of uuids it has seen.
func (s *Store) Known(ctx context.Context, site string, uuids []string) (map[string]Known, error) {
	out := make(map[string]Known, len(uuids))
	if len(uuids) == 0 {
		return out, nil
	}
	const cols = `user_uuid, fingerprint, person_uuid, person_display, given_name, family_name`
	scan := func(sc interface{ Scan(...any) error }) error {
		var k Known
		if err := sc.Scan(&k.UUID, &k.Fingerprint, &k.PersonUUID, &k.PersonDisplay, &k.GivenName, &k.FamilyName); err != nil {
			return err
		}
		out[k.UUID] = k
		return nil
	}
	if s.engine == sqldb.Postgres {
		rows, err := s.pool.Query(ctx, `SELECT `+cols+` FROM roster_users WHERE site = $1 AND user_uuid = ANY($2)`, site, uuids)
		if err != nil {
			return nil, fmt.Errorf("read %d roster users of %s: %w", len(uuids), site, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return nil, fmt.Errorf("read roster users of %s: %w", site, err)
			}
		}
		return out, rows.Err()
	}
	// One JSON parameter instead of a placeholder per uuid keeps the statement the same
	// whatever the page size.
	list, _ := json.Marshal(uuids) // a []string always encodes
	rows, err := s.read.QueryContext(ctx, `SELECT `+cols+` FROM roster_users
		WHERE site = ? AND user_uuid IN (SELECT value FROM json_each(?))`, site, string(list))
	if err != nil {
		return nil, fmt.Errorf("read %d roster users of %s: %w", len(uuids), site, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return nil, fmt.Errorf("read roster users of %s: %w", site, err)
		}
	}
	return out, rows.Err()
}

// Commit records users (what was published for them, or their new person display) and the
// checkpoint in one transaction, so a restart resumes exactly after the last batch whose
// users are recorded.
func (s *Store) Commit(ctx context.Context, site string, users []Known, cp Checkpoint, at time.Time) error {
	if s.engine == sqldb.Postgres {
		return s.commitPostgres(ctx, site, users, cp, at)
	}
	return s.commitSQLite(ctx, site, users, cp, at)
}

func (s *Store) commitPostgres(ctx context.Context, site string, users []Known, cp Checkpoint, at time.Time) error {
	n := len(users)
	uuids, fps, puuids, pdisp, given, family := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, u := range users {
		uuids[i], fps[i], puuids[i], pdisp[i], given[i], family[i] = u.UUID, u.Fingerprint, u.PersonUUID, u.PersonDisplay, u.GivenName, u.FamilyName
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if n > 0 {
			if _, err := tx.Exec(ctx, `
INSERT INTO roster_users (site, user_uuid, fingerprint, person_uuid, person_display, given_name, family_name, synced_at)
SELECT $1, u, f, pu, pd, g, fa, $8 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS t(u, f, pu, pd, g, fa)
ON CONFLICT (site, user_uuid) DO UPDATE SET
    fingerprint = EXCLUDED.fingerprint, person_uuid = EXCLUDED.person_uuid, person_display = EXCLUDED.person_display,
    given_name = EXCLUDED.given_name, family_name = EXCLUDED.family_name, synced_at = EXCLUDED.synced_at`,
				site, uuids, fps, puuids, pdisp, given, family, at.UTC()); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `
INSERT INTO roster_checkpoints (site, running, next_index, started_at, users_read, users_published, last_total, last_completed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (site) DO UPDATE SET running = EXCLUDED.running, next_index = EXCLUDED.next_index,
    started_at = EXCLUDED.started_at, users_read = EXCLUDED.users_read, users_published = EXCLUDED.users_published,
    last_total = EXCLUDED.last_total, last_completed_at = EXCLUDED.last_completed_at`,
			site, cp.Running, cp.NextIndex, nullTime(cp.StartedAt), cp.Read, cp.Published, cp.LastTotal, nullTime(cp.LastCompletedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("commit roster batch of %d users of %s: %w", n, site, err)
	}
	return nil
}

func (s *Store) commitSQLite(ctx context.Context, site string, users []Known, cp Checkpoint, at time.Time) (err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("commit roster batch of %s: %w", site, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			err = fmt.Errorf("commit roster batch of %d users of %s: %w", len(users), site, err)
		}
	}()
	if len(users) > 0 {
		stmt, err := tx.PrepareContext(ctx, `
INSERT INTO roster_users (site, user_uuid, fingerprint, person_uuid, person_display, given_name, family_name, synced_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (site, user_uuid) DO UPDATE SET
    fingerprint = excluded.fingerprint, person_uuid = excluded.person_uuid, person_display = excluded.person_display,
    given_name = excluded.given_name, family_name = excluded.family_name, synced_at = excluded.synced_at`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, u := range users {
			if _, err := stmt.ExecContext(ctx, site, u.UUID, u.Fingerprint, u.PersonUUID, u.PersonDisplay, u.GivenName, u.FamilyName, at.UnixMicro()); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `
INSERT INTO roster_checkpoints (site, running, next_index, started_at, users_read, users_published, last_total, last_completed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (site) DO UPDATE SET running = excluded.running, next_index = excluded.next_index,
    started_at = excluded.started_at, users_read = excluded.users_read, users_published = excluded.users_published,
    last_total = excluded.last_total, last_completed_at = excluded.last_completed_at`,
		site, cp.Running, cp.NextIndex, micros(cp.StartedAt), cp.Read, cp.Published, cp.LastTotal, micros(cp.LastCompletedAt)); err != nil {
		return err
	}
	return tx.Commit()
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}
