// Package storetest is the conformance suite every policy.Store passes, on SQLite and
// PostgreSQL alike.
package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// Open returns an empty store of its own for one test.
type Open func(t *testing.T) policy.Store

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

// Run runs the suite.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("a login before the roster sync creates the user", func(t *testing.T) {
		s := open(t)
		moved, err := s.RecordLogin(ctx, "a", "u1", "alice", t0)
		if err != nil || !moved {
			t.Fatalf("RecordLogin = %v, %v; want moved", moved, err)
		}
		u, err := s.User(ctx, "a", "u1")
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != "alice" || u.LastLoginAt == nil || !u.LastLoginAt.Equal(t0) {
			t.Fatalf("user = %+v", u)
		}
	})
	t.Run("the last login only moves forward", func(t *testing.T) {
		s := open(t)
		steps := []struct {
			at        time.Time
			wantMoved bool
			wantLast  time.Time
		}{
			{t0, true, t0},
			{t0.Add(-time.Hour), false, t0},
			{t0, false, t0},
			{t0.Add(time.Hour), true, t0.Add(time.Hour)},
		}
		for i, st := range steps {
			moved, err := s.RecordLogin(ctx, "a", "u1", "alice", st.at)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := s.User(ctx, "a", "u1")
			if moved != st.wantMoved || !u.LastLoginAt.Equal(st.wantLast) {
				t.Fatalf("step %d: moved %v last %v, want %v %v", i, moved, u.LastLoginAt, st.wantMoved, st.wantLast)
			}
		}
	})
	t.Run("a roster sync keeps the recorded login and stores every fact", func(t *testing.T) {
		s := open(t)
		if _, err := s.RecordLogin(ctx, "a", "u1", "alice", t0); err != nil {
			t.Fatal(err)
		}
		want := policy.User{Site: "a", UUID: "u1", Username: "alice2", SystemID: "1-8", GivenName: "Alice", FamilyName: "Doe",
			Email: "a@example.org", Roles: []string{"Nurse", "Provider"}, Properties: map[string]string{"k": "v"},
			CreatedAt: t0.Add(-90 * 24 * time.Hour), Retired: true}
		if err := s.SyncUser(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.User(ctx, "a", "u1")
		if err != nil {
			t.Fatal(err)
		}
		if got.LastLoginAt == nil || !got.LastLoginAt.Equal(t0) {
			t.Fatalf("sync lost the last login: %v", got.LastLoginAt)
		}
		got.LastLoginAt = nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("user = %+v\nwant %+v", got, want)
		}
		// A later login does not overwrite the roster's username with the event's.
		if _, err := s.RecordLogin(ctx, "a", "u1", "stale-name", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.User(ctx, "a", "u1"); got.Username != "alice2" {
			t.Fatalf("username = %q, want the roster's", got.Username)
		}
	})
	t.Run("retirements from the actuator reach the projection, and a roster sync overrides them", func(t *testing.T) {
		s := open(t)
		if known, err := s.SetRetired(ctx, "a", "u1", true); err != nil || known {
			t.Fatalf("SetRetired on an unknown user = %v, %v; want not known", known, err)
		}
		if err := s.SyncUser(ctx, policy.User{Site: "a", UUID: "u1", Username: "alice", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		for _, retired := range []bool{true, false, true} {
			if known, err := s.SetRetired(ctx, "a", "u1", retired); err != nil || !known {
				t.Fatalf("SetRetired(%v) = %v, %v", retired, known, err)
			}
			if u, _ := s.User(ctx, "a", "u1"); u.Retired != retired {
				t.Fatalf("retired = %v after SetRetired(%v)", u.Retired, retired)
			}
		}
		if err := s.SyncUser(ctx, policy.User{Site: "a", UUID: "u1", Username: "alice", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if u, _ := s.User(ctx, "a", "u1"); u.Retired {
			t.Fatal("the roster sync did not override the actuator's retirement")
		}
		if u, _ := s.User(ctx, "b", "u1"); u.Retired {
			t.Fatal("another site's user changed")
		}
	})
	t.Run("activity that is not a login moves the user, not the site's feed health", func(t *testing.T) {
		s := open(t)
		if _, err := s.RecordLogin(ctx, "a", "u1", "alice", t0); err != nil {
			t.Fatal(err)
		}
		moved, err := s.RecordActivity(ctx, "a", "u1", "alice", t0.Add(48*time.Hour))
		if err != nil || !moved {
			t.Fatalf("RecordActivity = %v, %v; want moved", moved, err)
		}
		if moved, _ := s.RecordActivity(ctx, "a", "u1", "alice", t0.Add(time.Hour)); moved {
			t.Fatal("an older activity moved the user back")
		}
		u, _ := s.User(ctx, "a", "u1")
		ss, err := s.SiteState(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if u.LastLoginAt == nil || !u.LastLoginAt.Equal(t0.Add(48*time.Hour)) || !ss.LastFeedAt.Equal(t0) {
			t.Fatalf("last activity %v, feed %v; want the activity on the user and the login's time on the feed", u.LastLoginAt, ss.LastFeedAt)
		}
	})
	t.Run("an unknown user is not found", func(t *testing.T) {
		if _, err := open(t).User(ctx, "a", "nobody"); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	runDecisions(t, open)
}
