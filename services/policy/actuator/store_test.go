package actuator

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
		if _, err := OpenStore(ctx, db); err != nil {
			t.Fatalf("migrating twice: %v", err)
		}
		decided := time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC)
		if _, ok, err := s.Decision(ctx, "a", "d1"); err != nil || ok {
			t.Fatalf("unknown decision: ok=%v err=%v", ok, err)
		}
		for _, o := range []Outcome{OutcomeFailed, OutcomeDeactivated} {
			if err := s.Record(ctx, Record{Site: "a", DecisionID: "d1", UserUUID: "u1", Username: "n", Outcome: o, Detail: string(o), DecidedAt: decided, RecordedAt: decided.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		r, ok, err := s.Decision(ctx, "a", "d1")
		if err != nil || !ok || r.Outcome != OutcomeDeactivated || r.Detail != "deactivated" || !r.DecidedAt.Equal(decided) || r.UserUUID != "u1" {
			t.Fatalf("record %+v ok=%v err=%v: want the later outcome and the decision's time", r, ok, err)
		}
		if _, ok, _ := s.Decision(ctx, "b", "d1"); ok {
			t.Fatal("a decision id of one site was found at another")
		}
		at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
		for i, rec := range []Reactivation{
			{ID: "r2", Site: "a", UserUUID: "u1", By: "bo", Reason: "second", WasRetired: false, ReactivatedAt: at.Add(time.Hour)},
			{ID: "r1", Site: "a", UserUUID: "u1", Username: "n", By: "ada", Reason: "first", WasRetired: true, ReactivatedAt: at},
			{ID: "r1", Site: "a", UserUUID: "u1", By: "dup", Reason: "dup", ReactivatedAt: at},
		} {
			if err := s.AddReactivation(ctx, rec); err != nil {
				t.Fatalf("reactivation %d: %v", i, err)
			}
		}
		got, err := s.Reactivations(ctx, "a", "u1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "r1" || got[0].By != "ada" || !got[0].WasRetired || !got[0].ReactivatedAt.Equal(at) || got[1].ID != "r2" || got[1].WasRetired {
			t.Fatalf("reactivations %+v: want r1 (first write kept) then r2", got)
		}
		if err := s.Record(ctx, Record{Site: "a", DecisionID: "d2", UserUUID: "u2", Outcome: OutcomeSuperseded, DecidedAt: decided, RecordedAt: decided.Add(2 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Record(ctx, Record{Site: "a", DecisionID: "d3", UserUUID: "u3", Outcome: OutcomeDeactivated, DecidedAt: decided, RecordedAt: decided.Add(3 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		deact, err := s.Decisions(ctx, "a", OutcomeDeactivated, 10)
		if err != nil || len(deact) != 2 || deact[0].DecisionID != "d3" || deact[1].DecisionID != "d1" {
			t.Fatalf("deactivated decisions %+v, %v: want d3 then d1", deact, err)
		}
		if all, _ := s.Decisions(ctx, "a", "", 2); len(all) != 2 || all[0].DecisionID != "d3" || all[1].DecisionID != "d2" {
			t.Fatalf("newest two decisions %+v: want d3, d2", all)
		}
		if other, _ := s.Decisions(ctx, "b", "", 10); len(other) != 0 {
			t.Fatalf("site b sees site a's decisions: %+v", other)
		}
		site, err := s.SiteReactivations(ctx, "a", 10)
		if err != nil || len(site) != 2 || site[0].ID != "r2" {
			t.Fatalf("site reactivations %+v, %v: want r2 first", site, err)
		}
	})
}
