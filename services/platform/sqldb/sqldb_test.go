package sqldb_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/sqldb/sqldbtest"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

// engines opens a fresh database of each engine for a test.
var engines = map[string]func(t *testing.T) *sqldb.DB{}

func init() {
	for _, name := range sqldbtest.Engines {
		engines[name] = func(t *testing.T) *sqldb.DB { return sqldbtest.Open(t, name) }
	}
}

func migrations(files ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i+1 < len(files); i += 2 {
		fsys[files[i]] = &fstest.MapFile{Data: []byte(files[i+1])}
	}
	return fsys
}

var v1 = migrations("0001_init.sql", "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
var v2 = migrations(
	"0001_init.sql", "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
	"0002_color.sql", "ALTER TABLE things ADD COLUMN color TEXT",
)

func exec(t *testing.T, db *sqldb.DB, q string) error {
	t.Helper()
	ctx := context.Background()
	if db.Engine() == sqldb.Postgres {
		_, err := db.Pool().Exec(ctx, q)
		return err
	}
	_, err := db.SQL().ExecContext(ctx, q)
	return err
}

func versions(t *testing.T, db *sqldb.DB, component string) int {
	t.Helper()
	var n int
	q := fmt.Sprintf("SELECT count(*) FROM schema_migrations WHERE component = '%s'", component)
	var err error
	if db.Engine() == sqldb.Postgres {
		err = db.Pool().QueryRow(context.Background(), q).Scan(&n)
	} else {
		err = db.SQL().QueryRow(q).Scan(&n)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrate(t *testing.T) {
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			t.Run("applies in order and records each version", func(t *testing.T) {
				db := open(t)
				if err := db.Migrate(ctx, "c", v2); err != nil {
					t.Fatal(err)
				}
				if err := exec(t, db, "INSERT INTO things (id, name, color) VALUES (1, 'a', 'red')"); err != nil {
					t.Fatalf("schema not migrated: %v", err)
				}
				if n := versions(t, db, "c"); n != 2 {
					t.Fatalf("%d versions recorded, want 2", n)
				}
			})
			t.Run("running again changes nothing", func(t *testing.T) {
				db := open(t)
				for i := 0; i < 3; i++ {
					if err := db.Migrate(ctx, "c", v2); err != nil {
						t.Fatalf("run %d: %v", i+1, err)
					}
				}
				if n := versions(t, db, "c"); n != 2 {
					t.Fatalf("%d versions recorded, want 2", n)
				}
			})
			t.Run("an upgrade applies only the new file", func(t *testing.T) {
				db := open(t)
				if err := db.Migrate(ctx, "c", v1); err != nil {
					t.Fatal(err)
				}
				if err := exec(t, db, "INSERT INTO things (id, name) VALUES (1, 'kept')"); err != nil {
					t.Fatal(err)
				}
				if err := db.Migrate(ctx, "c", v2); err != nil {
					t.Fatal(err)
				}
				if n := versions(t, db, "c"); n != 2 {
					t.Fatalf("%d versions recorded, want 2", n)
				}
			})
			t.Run("components keep separate versions", func(t *testing.T) {
				db := open(t)
				if err := db.Migrate(ctx, "a", v1); err != nil {
					t.Fatal(err)
				}
				other := migrations("0001_init.sql", "CREATE TABLE others (id INTEGER PRIMARY KEY)")
				if err := db.Migrate(ctx, "b", other); err != nil {
					t.Fatal(err)
				}
				if versions(t, db, "a") != 1 || versions(t, db, "b") != 1 {
					t.Fatal("versions leaked between components")
				}
			})
			t.Run("a newer schema than the binary knows is refused", func(t *testing.T) {
				db := open(t)
				if err := db.Migrate(ctx, "c", v2); err != nil {
					t.Fatal(err)
				}
				err := db.Migrate(ctx, "c", v1)
				if err == nil || !strings.Contains(err.Error(), "downgrades are not supported") {
					t.Fatalf("err = %v, want a refusal", err)
				}
			})
			t.Run("a failing migration rolls back and names its file", func(t *testing.T) {
				db := open(t)
				bad := migrations(
					"0001_init.sql", "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
					"0002_broken.sql", "CREATE TABLE half (id INTEGER); THIS IS NOT SQL",
				)
				err := db.Migrate(ctx, "c", bad)
				if err == nil || !strings.Contains(err.Error(), "0002_broken.sql") {
					t.Fatalf("err = %v, want it to name 0002_broken.sql", err)
				}
				if n := versions(t, db, "c"); n != 1 {
					t.Fatalf("%d versions recorded, want 1", n)
				}
				if err := exec(t, db, "INSERT INTO half (id) VALUES (1)"); err == nil {
					t.Fatal("the failed migration's first statement was kept")
				}
			})
			t.Run("a binary with no migrations still refuses a newer schema", func(t *testing.T) {
				db := open(t)
				if err := db.Migrate(ctx, "c", v1); err != nil {
					t.Fatal(err)
				}
				err := db.Migrate(ctx, "c", migrations())
				if err == nil || !strings.Contains(err.Error(), "downgrades are not supported") {
					t.Fatalf("err = %v, want a refusal", err)
				}
			})
			t.Run("concurrent starts apply each migration once", func(t *testing.T) {
				db := open(t)
				concurrently(t, 8, func(int) error { return db.Migrate(ctx, "c", v2) })
				if n := versions(t, db, "c"); n != 2 {
					t.Fatalf("%d versions recorded, want 2", n)
				}
			})
			t.Run("components starting together on a fresh database all migrate", func(t *testing.T) {
				db := open(t)
				concurrently(t, 6, func(i int) error {
					table := fmt.Sprintf("t%d", i)
					return db.Migrate(ctx, table, migrations("0001_init.sql", "CREATE TABLE "+table+" (id INTEGER PRIMARY KEY)"))
				})
				for i := 0; i < 6; i++ {
					if n := versions(t, db, fmt.Sprintf("t%d", i)); n != 1 {
						t.Fatalf("component t%d has %d versions, want 1", i, n)
					}
				}
			})
		})
	}
}

// TestMigrateFromSeveralProcesses opens the same database several times, as separate
// processes would (separate PostgreSQL pools, separate SQLite handles on one file).
func TestMigrateFromSeveralProcesses(t *testing.T) {
	ctx := context.Background()
	dsns := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "shared.db") },
		"postgres": func(t *testing.T) string { return testenv.Postgres(t) },
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			where := dsn(t)
			dbs := make([]*sqldb.DB, 4)
			for i := range dbs {
				db, err := sqldb.Open(ctx, where, "")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(db.Close)
				dbs[i] = db
			}
			concurrently(t, len(dbs), func(i int) error { return dbs[i].Migrate(ctx, "c", v2) })
			if n := versions(t, dbs[0], "c"); n != 2 {
				t.Fatalf("%d versions recorded, want 2", n)
			}
		})
	}
}

// concurrently runs f(0..n-1) in goroutines released together and fails on any error.
func concurrently(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- f(i)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSQLiteReaders(t *testing.T) {
	ctx := context.Background()
	db := engines["sqlite"](t)
	if err := db.Migrate(ctx, "c", v1); err != nil {
		t.Fatal(err)
	}
	t.Run("read handles refuse to write", func(t *testing.T) {
		if _, err := db.ReadSQL().ExecContext(ctx, "INSERT INTO things (id, name) VALUES (1, 'x')"); err == nil {
			t.Fatal("a write through ReadSQL succeeded")
		}
	})
	t.Run("reads see committed writes and do not wait for an open write", func(t *testing.T) {
		if _, err := db.SQL().ExecContext(ctx, "INSERT INTO things (id, name) VALUES (2, 'committed')"); err != nil {
			t.Fatal(err)
		}
		tx, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.ExecContext(ctx, "INSERT INTO things (id, name) VALUES (3, 'pending')"); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var n int
		if err := db.ReadSQL().QueryRowContext(rctx, "SELECT count(*) FROM things").Scan(&n); err != nil {
			t.Fatalf("read while a write is open: %v", err)
		}
		if n != 1 {
			t.Fatalf("reader saw %d rows, want only the committed one", n)
		}
	})
}

func TestMigrationFilesAreChecked(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"a name without a version is refused", migrations("init.sql", "SELECT 1"), "init.sql"},
		{"version 0000 is refused", migrations("0000_init.sql", "SELECT 1"), "0000_init.sql"},
		{"two files with one version are refused", migrations("0001_a.sql", "SELECT 1", "0001_b.sql", "SELECT 1"), "share version 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := engines["sqlite"](t)
			err := db.Migrate(context.Background(), "c", tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name, dsn, dataDir string
		engine             sqldb.Engine
		describe           string
	}{
		{"an empty dsn is SQLite under the data folder, which is created", "", filepath.Join(dir, "data"), sqldb.SQLite, "sqlite " + filepath.Join(dir, "data", "dormant.db")},
		{"a path is a SQLite file", filepath.Join(dir, "x", "other.db"), "", sqldb.SQLite, "sqlite " + filepath.Join(dir, "x", "other.db")},
		{"a postgres:// URL is PostgreSQL", testenv.PostgresURL(), "", sqldb.Postgres, "postgres postgres://"},
		{"a postgresql:// URL is PostgreSQL", strings.Replace(testenv.PostgresURL(), "postgres://", "postgresql://", 1), "", sqldb.Postgres, "postgres postgresql://"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sqldb.Open(ctx, tc.dsn, tc.dataDir)
			if err != nil {
				if tc.engine == sqldb.Postgres {
					testenv.Unavailable(t, "PostgreSQL", err)
				}
				t.Fatal(err)
			}
			defer db.Close()
			if db.Engine() != tc.engine || !strings.HasPrefix(db.Describe(), tc.describe) {
				t.Fatalf("engine %s, describe %q", db.Engine(), db.Describe())
			}
			if (db.Pool() != nil) != (tc.engine == sqldb.Postgres) || (db.SQL() != nil) != (tc.engine == sqldb.SQLite) || (db.ReadSQL() != nil) != (tc.engine == sqldb.SQLite) {
				t.Fatal("the handles do not match the engine")
			}
			if err := db.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("an unreachable server fails without showing the password", func(t *testing.T) {
		_, err := sqldb.Open(ctx, "postgres://nobody:secret@127.0.0.1:1/none", "")
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no file and no data folder is an error", func(t *testing.T) {
		if _, err := sqldb.Open(ctx, "", ""); err == nil {
			t.Fatal("opened a database with nowhere to put it")
		}
	})
}

func TestRedact(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a password is hidden", "postgres://u:pw@h/db?sslmode=disable", "postgres://u:xxxxx@h/db?sslmode=disable"},
		{"a URL without password is kept", "postgres://u@h/db", "postgres://u@h/db"},
		{"a file path is kept", "/var/lib/dormant/dormant.db", "/var/lib/dormant/dormant.db"},
		{"an unparseable URL is not echoed", "postgres://u:p%zz@h/db", "(unparseable database URL)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sqldb.Redact(tc.in); got != tc.want {
				t.Fatalf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestEngineNames(t *testing.T) {
	if sqldb.Postgres.String() != "postgres" || sqldb.SQLite.String() != "sqlite" {
		t.Fatalf("names: %s, %s", sqldb.Postgres, sqldb.SQLite)
	}
}

func TestMigrateEmbedded(t *testing.T) {
	ctx := context.Background()
	embedded := fstest.MapFS{"migrations/0001_init.sql": &fstest.MapFile{Data: []byte("CREATE TABLE things (id INTEGER PRIMARY KEY)")}}
	t.Run("a store for another engine is refused", func(t *testing.T) {
		db := engines["sqlite"](t)
		err := db.MigrateEmbedded(ctx, "c", sqldb.Postgres, embedded, "migrations")
		if err == nil || !strings.Contains(err.Error(), "the database is sqlite") {
			t.Fatalf("err = %v, want a refusal naming the engine", err)
		}
	})
	t.Run("the files of the folder are applied", func(t *testing.T) {
		db := engines["sqlite"](t)
		if err := db.MigrateEmbedded(ctx, "c", sqldb.SQLite, embedded, "migrations"); err != nil {
			t.Fatal(err)
		}
		if n := versions(t, db, "c"); n != 1 {
			t.Fatalf("%d versions recorded, want 1", n)
		}
	})
}
