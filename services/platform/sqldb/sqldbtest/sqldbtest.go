// Package sqldbtest opens a fresh database of each engine dormant supports, so that a store's
// tests run the same checks on SQLite and PostgreSQL without each writing the opening again.
package sqldbtest

import (
	"context"
	"testing"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

// Engines are the engines' names, in the order tests run them.
var Engines = []string{"sqlite", "postgres"}

// Open opens a fresh database of engine for t, closed when t ends: SQLite in t's temporary
// directory, PostgreSQL in a schema of t's own (testenv.Postgres, which fails under CI=true
// when PostgreSQL is missing).
func Open(t testing.TB, engine string) *sqldb.DB {
	t.Helper()
	dsn := ""
	switch engine {
	case "sqlite":
	case "postgres":
		dsn = testenv.Postgres(t)
	default:
		t.Fatalf("sqldbtest: no engine %q", engine)
	}
	db, err := sqldb.Open(context.Background(), dsn, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// Each runs f as a subtest on a fresh database of every engine.
func Each(t *testing.T, f func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	for _, engine := range Engines {
		t.Run(engine, func(t *testing.T) { f(t, Open(t, engine)) })
	}
}
