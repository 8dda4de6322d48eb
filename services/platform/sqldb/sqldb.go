// Package sqldb opens the database a dormant service keeps its state in, PostgreSQL for
// production or an embedded SQLite file for a single machine, and applies the versioned
// migrations each store embeds.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Engine is the kind of database behind a DB.
type Engine int

// The engines dormant runs on.
const (
	SQLite Engine = iota + 1
	Postgres
)

func (e Engine) String() string {
	switch e {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	default:
		return fmt.Sprintf("engine(%d)", int(e))
	}
}

// DB is an open database of either engine. Stores take the handles of their engine: Pool
// for PostgreSQL; SQL (the writer) and ReadSQL (readers) for SQLite.
type DB struct {
	engine Engine
	pool   *pgxpool.Pool
	write  *sql.DB
	read   *sql.DB
	where  string
}

// DefaultFile is the SQLite file's name under the data directory.
const DefaultFile = "dormant.db"

// Open connects to dsn: a postgres:// or postgresql:// URL opens a connection pool; an empty
// dsn opens (creating) dataDir/dormant.db; anything else is taken as a SQLite file path.
func Open(ctx context.Context, dsn, dataDir string) (*DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return openPostgres(ctx, dsn)
	}
	path := dsn
	if path == "" {
		if dataDir == "" {
			return nil, errors.New("open sqlite: no file and no data directory given")
		}
		path = filepath.Join(dataDir, DefaultFile)
	}
	return openSQLite(ctx, path)
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url %s: %w", Redact(dsn), err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", Redact(dsn), err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres %s: %w", Redact(dsn), err)
	}
	return &DB{engine: Postgres, pool: pool, where: Redact(dsn)}, nil
}

// readers is how many read-only SQLite connections a DB keeps: enough for the admin page and
// a store's lookups to run beside each other; SQLite readers in WAL mode do not block.
const readers = 4

func openSQLite(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("create folder for %s: %w", abs, err)
	}
	// WAL lets readers work while a write is in progress; busy_timeout makes another process
	// wait for the lock instead of failing; immediate transactions take the write lock up
	// front, so two writers never deadlock upgrading a read lock. synchronous=NORMAL skips the
	// fsync per commit: in WAL mode a commit still survives a crash of the process, only a
	// power cut can lose the last ones, a trade the embedded single-machine setup accepts.
	w := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		w.Add("_pragma", p)
	}
	w.Set("_txlock", "immediate")
	write, err := sql.Open("sqlite", "file:"+abs+"?"+w.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", abs, err)
	}
	// SQLite has one writer at a time; one connection turns contention into a queue in Go
	// rather than SQLITE_BUSY retries.
	write.SetMaxOpenConns(1)
	write.SetConnMaxLifetime(0)
	// The writer's first connection switches the file to WAL (a setting the file keeps), so
	// it must exist before the readers open.
	if err := write.PingContext(ctx); err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", abs, err)
	}
	r := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "foreign_keys(1)", "query_only(1)"} {
		r.Add("_pragma", p)
	}
	read, err := sql.Open("sqlite", "file:"+abs+"?"+r.Encode())
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("open sqlite %s for reading: %w", abs, err)
	}
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	if err := read.PingContext(ctx); err != nil {
		_ = write.Close()
		_ = read.Close()
		return nil, fmt.Errorf("open sqlite %s for reading: %w", abs, err)
	}
	return &DB{engine: SQLite, write: write, read: read, where: abs}, nil
}

// Engine says which database this is.
func (db *DB) Engine() Engine { return db.engine }

// Pool is the PostgreSQL pool, nil on SQLite.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// SQL is the SQLite writer, nil on PostgreSQL: one connection, so writes from every
// goroutine take turns. Use it for anything that writes and for reads that belong to a write
// transaction; a read alone should use ReadSQL rather than wait behind a batch.
func (db *DB) SQL() *sql.DB { return db.write }

// ReadSQL is a pool of read-only SQLite connections, nil on PostgreSQL. In WAL mode they see
// every committed write and never wait for the writer. Writing through them fails.
func (db *DB) ReadSQL() *sql.DB { return db.read }

// Describe names the engine and where the data lives, without credentials, for logs.
func (db *DB) Describe() string { return db.engine.String() + " " + db.where }

// Ping checks that the database answers (readiness).
func (db *DB) Ping(ctx context.Context) error {
	if db.pool != nil {
		return db.pool.Ping(ctx)
	}
	if err := db.write.PingContext(ctx); err != nil {
		return err
	}
	return db.read.PingContext(ctx)
}

// Close releases the connections.
func (db *DB) Close() {
	if db.pool != nil {
		db.pool.Close()
	}
	if db.write != nil {
		_ = db.write.Close()
	}
	if db.read != nil {
		_ = db.read.Close()
	}
}

// Redact hides the password of a database URL; a file path is returned as it is.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		if strings.Contains(dsn, "://") {
			return "(unparseable database URL)"
		}
		return dsn
	}
	return u.Redacted()
}
