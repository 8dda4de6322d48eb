package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
)

// Portable is a database/sql handle on either engine, for small stores whose statements are
// the same on both (INSERT ... ON CONFLICT, $n placeholders): one implementation instead of
// two, with only the migrations differing (column types).
type Portable struct {
	*sql.DB
	// owned is true when the handle was opened here (a wrapper around the PostgreSQL pool)
	// and must be closed; SQLite's handle belongs to the DB.
	owned bool
}

// OpenPortable migrates component's migrations from dir/postgres or dir/sqlite of fsys,
// whichever matches the engine, and returns the handle. On SQLite it is the writer, so writes
// from every store take turns.
func (db *DB) OpenPortable(ctx context.Context, component string, fsys fs.FS, dir string) (*Portable, error) {
	p := &Portable{}
	switch db.engine {
	case Postgres:
		p.DB, p.owned = stdlib.OpenDBFromPool(db.pool), true
	case SQLite:
		p.DB = db.write
	default:
		return nil, fmt.Errorf("%s store: unsupported engine %s", component, db.engine)
	}
	if err := db.MigrateEmbedded(ctx, component, db.engine, fsys, dir+"/"+db.engine.String()); err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

// Close releases the handle if OpenPortable opened it; the database itself stays the caller's.
func (p *Portable) Close() error {
	if p.owned {
		return p.DB.Close()
	}
	return nil
}
