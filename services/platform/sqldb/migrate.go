package sqldb

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// migrationName is NNNN_what.sql: the number orders the files and is the schema version.
var migrationName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

type migration struct {
	version int
	name    string
	sql     string
}

func readMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_words.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if v == 0 {
			return nil, fmt.Errorf("migration file %q: versions start at 0001", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate applies the migrations in fsys (files NNNN_what.sql at its root, 0001 first) that
// component's schema lacks, in order, each in its own transaction together with its row in
// schema_migrations(component, version, name, applied_at). Running it again changes nothing.
// Several processes may start at once: on PostgreSQL an advisory lock keyed by component
// makes them take turns, on SQLite the write lock does, and each re-reads the version under
// that lock, so every file is applied exactly once. A database whose schema is newer than
// this binary knows is refused: downgrades are not supported. A migration must be able to run
// inside a transaction (no CREATE INDEX CONCURRENTLY).
func (db *DB) Migrate(ctx context.Context, component string, fsys fs.FS) error {
	ms, err := readMigrations(fsys)
	if err != nil {
		return fmt.Errorf("%s: %w", component, err)
	}
	newest := 0
	if len(ms) > 0 {
		newest = ms[len(ms)-1].version
	}
	// step applies one migration (nil: only checks the version) unless the schema already
	// has it, and refuses a schema newer than newest.
	step := db.stepSQLite
	if db.engine == Postgres {
		if err := db.createTablePostgres(ctx); err != nil {
			return fmt.Errorf("%s: %w", component, err)
		}
		step = db.stepPostgres
	}
	if len(ms) == 0 {
		// Nothing to apply, but a newer schema must still be refused.
		return step(ctx, component, nil, newest)
	}
	for i := range ms {
		if err := step(ctx, component, &ms[i], newest); err != nil {
			return err
		}
	}
	return nil
}

func tooNew(component string, have, newest int) error {
	return fmt.Errorf("%s: the database schema is at version %d but this binary knows only up to %d: run the newer binary (downgrades are not supported)",
		component, have, newest)
}

// Advisory lock keys (two int4s): the first says the lock is dormant's migrations, so it
// never meets a lock some other program takes on the same database.
const (
	lockMigrations = "dormant.migrate"
	lockTable      = "dormant.schema_migrations"
)

// createTablePostgres creates schema_migrations under a lock of its own: two components
// starting together would otherwise race in CREATE TABLE IF NOT EXISTS, which PostgreSQL
// does not make safe (one fails on a duplicate pg_type row).
func (db *DB) createTablePostgres(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1), 0)", lockTable); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			component  text        NOT NULL,
			version    integer     NOT NULL,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (component, version))`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return nil
}

// stepPostgres holds a transaction-level advisory lock rather than a session one: it goes
// with the transaction whatever happens, where a session lock could stay behind on a pooled
// connection if the unlock were cancelled.
func (db *DB) stepPostgres(ctx context.Context, component string, m *migration, newest int) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", lockMigrations, component); err != nil {
			return fmt.Errorf("%s: migration lock: %w", component, err)
		}
		var have int
		if err := tx.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM schema_migrations WHERE component = $1", component).Scan(&have); err != nil {
			return fmt.Errorf("%s: read schema version: %w", component, err)
		}
		if have > newest {
			return tooNew(component, have, newest)
		}
		if m == nil || m.version <= have {
			return nil
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("%s: migration %s: %w", component, m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)", component, m.version, m.name); err != nil {
			return fmt.Errorf("%s: record migration %s: %w", component, m.name, err)
		}
		return nil
	})
}

// stepSQLite relies on the writer's BEGIN IMMEDIATE: the transaction holds the database's
// write lock from its first statement, so the version it reads cannot change under it, in
// this process or another.
func (db *DB) stepSQLite(ctx context.Context, component string, m *migration, newest int) (err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", component, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component  TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		name       TEXT    NOT NULL,
		applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
		PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("%s: create schema_migrations: %w", component, err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(max(version), 0) FROM schema_migrations WHERE component = ?", component).Scan(&have); err != nil {
		return fmt.Errorf("%s: read schema version: %w", component, err)
	}
	if have > newest {
		return tooNew(component, have, newest)
	}
	if m != nil && m.version > have {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("%s: migration %s: %w", component, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (component, version, name) VALUES (?, ?, ?)", component, m.version, m.name); err != nil {
			return fmt.Errorf("%s: record migration %s: %w", component, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit migration: %w", component, err)
	}
	return nil
}
