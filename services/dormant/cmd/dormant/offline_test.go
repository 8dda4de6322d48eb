package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// offlineUser is the one user of offlineSite.
const offlineUser = "00000000-0000-4000-8000-000000000001"

// offlineSite prepares what the offline commands (whatif, audit) read: a sites file with the
// site "clinic" where dormant is off, in the environment, and a SQLite policy store holding
// the user nurse1, created at created and last seen logging in at lastLogin. It returns the
// test's directory and the store.
func offlineSite(t *testing.T, created, lastLogin time.Time) (string, policy.Store) {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sites.yaml")
	if err := os.WriteFile(cfgFile, []byte("sites:\n  - id: clinic\n    policy: {enabled: false}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dbFile := filepath.Join(dir, "dormant.db")
	t.Setenv("DORMANT_CONFIG", cfgFile)
	t.Setenv("DORMANT_DB", dbFile)
	t.Setenv("DORMANT_DATA_DIR", dir)
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dbFile, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	store, err := policysvc.OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SyncUser(ctx, policy.User{Site: "clinic", UUID: offlineUser, Username: "nurse1", CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RecordLogin(ctx, "clinic", offlineUser, "nurse1", lastLogin); err != nil {
		t.Fatal(err)
	}
	return dir, store
}
