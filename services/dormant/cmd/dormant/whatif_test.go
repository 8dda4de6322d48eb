package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWhatIfPreviewsWithoutChangingAnything: the command lists the warning a tick would send
// under the site's policy, none under a looser policy file, and stores nothing.
func TestWhatIfPreviewsWithoutChangingAnything(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	dir, store := offlineSite(t, at.AddDate(-2, 0, 0), at.Add(-100*24*time.Hour))
	const id = offlineUser
	ctx := context.Background()
	loose := filepath.Join(dir, "loose.yaml")
	if err := os.WriteFile(loose, []byte("inactive_after: 200d\n"), 0o600); err != nil {
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
