package notifier

import (
	"context"
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
		now := time.Date(2026, 6, 3, 7, 0, 0, 0, time.UTC)
		if sent, err := s.Sent(ctx, "e1:email"); err != nil || sent {
			t.Fatalf("sent=%v err=%v before sending", sent, err)
		}
		for range 2 {
			if err := s.MarkSent(ctx, "e1:email", "a", "x@example.org", now); err != nil {
				t.Fatal(err)
			}
		}
		if sent, err := s.Sent(ctx, "e1:email"); err != nil || !sent {
			t.Fatalf("sent=%v err=%v after sending", sent, err)
		}
		due := now.Add(48 * time.Hour)
		items := []Item{
			{Site: "a", EventID: "w1", Kind: ItemUpcoming, UserUUID: "u1", Username: "n1", OccurredAt: now.Add(-time.Hour), DueAt: due},
			{Site: "a", EventID: "h1", Kind: ItemHeld, Detail: "batch", OccurredAt: now.Add(-2 * time.Hour)},
			{Site: "b", EventID: "w1", Kind: ItemUpcoming, OccurredAt: now},
			{Site: "a", EventID: "w1", Kind: ItemRetired, OccurredAt: now}, // a redelivery: ignored
		}
		for _, it := range items {
			if err := s.AddItem(ctx, it); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Pending(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].EventID != "h1" || !got[0].DueAt.IsZero() || got[1].Kind != ItemUpcoming || !got[1].DueAt.Equal(due) {
			t.Fatalf("pending %+v", got)
		}
		if err := s.CloseDigest(ctx, "a", "digest:a:2026-06-03", "x@example.org", got, now); err != nil {
			t.Fatal(err)
		}
		if left, _ := s.Pending(ctx, "a"); len(left) != 0 {
			t.Fatalf("%d items still pending after the digest", len(left))
		}
		if left, _ := s.Pending(ctx, "b"); len(left) != 1 {
			t.Fatalf("the other site's item went with the digest")
		}
		if sent, _ := s.Sent(ctx, "digest:a:2026-06-03"); !sent {
			t.Fatal("the digest is not in the sent log")
		}
	})
}
