package roster_test

import (
	"context"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/testenv"
	"github.com/dormant-dev/dormant/services/policy/roster"
)

// The store behaves the same on both engines: checkpoints and users round-trip, a commit
// overwrites, sites are apart, and opening twice migrates once.
func TestStore(t *testing.T) {
	engines := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return testenv.Postgres(t) },
	}
	for name, dsn := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sqldb.Open(ctx, dsn(t), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(db.Close)
			if _, err := roster.OpenStore(ctx, db); err != nil {
				t.Fatal(err)
			}
			s, err := roster.OpenStore(ctx, db) // a second process starting
			if err != nil {
				t.Fatal(err)
			}

			cp, err := s.Checkpoint(ctx, "a")
			if err != nil || cp != (roster.Checkpoint{}) {
				t.Fatalf("fresh checkpoint %+v, %v", cp, err)
			}
			at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
			u1 := roster.Known{UUID: "u1", Fingerprint: "f1", PersonUUID: "p1", PersonDisplay: "Ann Bee", GivenName: "Ann", FamilyName: "Bee"}
			u2 := roster.Known{UUID: "u2", Fingerprint: "f2"}
			want := roster.Checkpoint{Running: true, NextIndex: 200, StartedAt: at, Read: 200, Published: 150, LastTotal: 900, LastCompletedAt: at.Add(-time.Hour)}
			if err := s.Commit(ctx, "a", []roster.Known{u1, u2}, want, at); err != nil {
				t.Fatal(err)
			}
			if cp, err = s.Checkpoint(ctx, "a"); err != nil || cp != want {
				t.Fatalf("checkpoint %+v, %v; want %+v", cp, err, want)
			}
			if cp, _ = s.Checkpoint(ctx, "b"); cp != (roster.Checkpoint{}) {
				t.Errorf("site b sees %+v", cp)
			}
			u1.Fingerprint, u1.PersonDisplay = "f1b", "Ann B. Bee"
			done := roster.Checkpoint{LastTotal: 201, LastCompletedAt: at, Read: 201, Published: 151}
			if err := s.Commit(ctx, "a", []roster.Known{u1}, done, at); err != nil {
				t.Fatal(err)
			}
			known, err := s.Known(ctx, "a", []string{"u1", "u2", "u3"})
			if err != nil {
				t.Fatal(err)
			}
			if len(known) != 2 || known["u1"] != u1 || known["u2"] != u2 {
				t.Errorf("known %+v", known)
			}
			if known, _ := s.Known(ctx, "b", []string{"u1"}); len(known) != 0 {
				t.Errorf("site b knows %+v", known)
			}
			if cp, _ = s.Checkpoint(ctx, "a"); cp != done {
				t.Errorf("checkpoint %+v, want %+v", cp, done)
			}
		})
	}
}
