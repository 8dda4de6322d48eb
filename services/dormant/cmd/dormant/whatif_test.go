package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// TestWhatIfPreviewsWithoutChangingAnything: the command lists the warning a tick would send
// under the site's policy, none under a looser policy file, and stores nothing.
func TestWhatIfPreviewsWithoutChangingAnything(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sites.yaml")
	if err := os.WriteFile(cfgFile, []byte("sites:\n  - id: clinic\n    policy: {enabled: false}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(dir, "loose.yaml")
	if err := os.WriteFile(loose, []byte("inactive_after: 200d\n"), 0o600); err != nil {
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
	defer db.Close()
	store, err := policysvc.OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	const id = "00000000-0000-4000-8000-000000000001"
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := store.SyncUser(ctx, policy.User{Site: "clinic", UUID: id, Username: "nurse1", CreatedAt: at.AddDate(-2, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RecordLogin(ctx, "clinic", id, "nurse1", at.Add(-100*24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"the site's policy (previewed as enabled) warns the inactive user first", []string{"--site", "clinic", "--at", "2026-12-01"},
			[]string{"0 deactivation(s), 1 warning(s)", "warn (dry run)", "nurse1", "2026-12-15", "no login since 2026-08-23 (100 days)"}},
		{"a looser policy file warns nobody", []string{"--site", "clinic", "--at", "2026-12-01T00:00:00Z", "--policy", loose},
			[]string{"0 deactivation(s), 0 warning(s)"}},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		if err := run(ctx, append([]string{"whatif"}, tc.args...), &out, &out); err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, out.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, w, out.String())
			}
		}
	}
	if st, err := store.UserState(ctx, "clinic", id); err != nil || !st.IsZero() {
		t.Errorf("what-if stored a state: %+v, %v", st, err)
	}
	if s, err := store.SiteState(ctx, "clinic"); err != nil || !s.Baseline.IsZero() || !s.LastTick.IsZero() {
		t.Errorf("what-if moved the site's clock: %+v, %v", s, err)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"whatif", "--site", "nowhere"}, &out, &out); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("unknown site: err = %v", err)
	}
}
