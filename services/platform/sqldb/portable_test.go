package sqldb_test

import (
	"context"
	"testing"
	"testing/fstest"
)

func TestPortableRunsTheSameStatementsOnBothEngines(t *testing.T) {
	fsys := fstest.MapFS{
		"m/postgres/0001_init.sql": {Data: []byte("CREATE TABLE notes (id text PRIMARY KEY, body text NOT NULL)")},
		"m/sqlite/0001_init.sql":   {Data: []byte("CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)")},
	}
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)
			p, err := db.OpenPortable(ctx, "notes", fsys, "m")
			if err != nil {
				t.Fatal(err)
			}
			for _, body := range []string{"first", "second"} {
				if _, err := p.ExecContext(ctx, `INSERT INTO notes (id, body) VALUES ($1, $2)
					ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body`, "n1", body); err != nil {
					t.Fatal(err)
				}
			}
			var body string
			if err := p.QueryRowContext(ctx, `SELECT body FROM notes WHERE id = $1`, "n1").Scan(&body); err != nil || body != "second" {
				t.Fatalf("body = %q, %v", body, err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			// Closing the store's handle leaves the database usable for the others.
			if err := db.Ping(ctx); err != nil {
				t.Fatalf("after closing the portable handle: %v", err)
			}
		})
	}
}
