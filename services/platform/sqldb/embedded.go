package sqldb

import (
	"context"
	"fmt"
	"io/fs"
)

// MigrateEmbedded checks that the database is of engine want, then applies the migrations in
// folder dir of fsys (a store's embedded migrations) for component. Every store's Open calls
// it, so the engine check and the folder handling live in one place.
func (db *DB) MigrateEmbedded(ctx context.Context, component string, want Engine, fsys fs.FS, dir string) error {
	if db.engine != want {
		return fmt.Errorf("%s %s store: the database is %s", component, want, db.engine)
	}
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return fmt.Errorf("%s: migrations folder %s: %w", component, dir, err)
	}
	return db.Migrate(ctx, component, sub)
}
