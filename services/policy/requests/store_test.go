package requests

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/sqldb/sqldbtest"
)

// TestStoreOnBothEngines runs the same checks on SQLite and PostgreSQL.
func TestStoreOnBothEngines(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := OpenStore(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := OpenStore(ctx, db); err != nil {
			t.Fatalf("migrating twice: %v", err)
		}
		at := time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC)
		for i, r := range []Request{
			{ID: "r1", Site: "a", Username: "ana", Note: "back from leave", ClientIP: "192.0.2.1", RequestedAt: at},
			{ID: "r2", Site: "a", Username: "nobody", RequestedAt: at.Add(time.Minute)},
			{ID: "r3", Site: "b", Username: "ana", RequestedAt: at.Add(2 * time.Minute)},
			{ID: "r1", Site: "a", Username: "changed", RequestedAt: at.Add(time.Hour)}, // the same id again: ignored
		} {
			if err := s.Add(ctx, r); err != nil {
				t.Fatalf("add %d: %v", i, err)
			}
		}
		got, err := s.Get(ctx, "a", "r1")
		if err != nil || got.Username != "ana" || got.Note != "back from leave" || got.ClientIP != "192.0.2.1" || !got.RequestedAt.Equal(at) || got.Status != Pending || !got.DecidedAt.IsZero() {
			t.Fatalf("get r1 = %+v, %v", got, err)
		}
		if _, err := s.Get(ctx, "b", "r1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("r1 from another site: %v, want ErrNotFound", err)
		}
		tests := []struct {
			name       string
			id         string
			status     Status
			wantErr    error
			wantStatus Status
		}{
			{"approve a pending request", "r1", Approved, nil, Approved},
			{"a decided request is not decided again", "r1", Rejected, ErrNotPending, Approved},
			{"reject a pending request", "r2", Rejected, nil, Rejected},
			{"an unknown request", "r9", Rejected, ErrNotFound, ""},
		}
		for _, tt := range tests {
			err := s.Decide(ctx, "a", tt.id, tt.status, "bob", "why "+tt.id, "uuid-"+tt.id, at.Add(3*time.Hour))
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
			}
			if r, _ := s.Get(ctx, "a", tt.id); r.Status != tt.wantStatus {
				t.Errorf("%s: status %q, want %q", tt.name, r.Status, tt.wantStatus)
			}
		}
		if err := s.Decide(ctx, "b", "r3", Pending, "bob", "", "", at); err == nil {
			t.Error("pending is not a decision, yet it was taken")
		}
		r1, _ := s.Get(ctx, "a", "r1")
		if r1.DecidedBy != "bob" || r1.DecisionReason != "why r1" || r1.UserUUID != "uuid-r1" || !r1.DecidedAt.Equal(at.Add(3*time.Hour)) {
			t.Errorf("approved r1 = %+v", r1)
		}
		all, err := s.List(ctx, "a", "", 10)
		if err != nil || len(all) != 2 || all[0].ID != "r2" || all[1].ID != "r1" {
			t.Errorf("list of a = %+v, %v; want r2 then r1", all, err)
		}
		pending, err := s.List(ctx, "b", Pending, 10)
		if err != nil || len(pending) != 1 || pending[0].ID != "r3" {
			t.Errorf("pending of b = %+v, %v", pending, err)
		}
	})
}
