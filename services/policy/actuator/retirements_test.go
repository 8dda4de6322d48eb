package actuator

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/platform/sqldb/sqldbtest"
)

// bruteRetiredSince counts as the admin overview once did: every retirement read into Go.
func bruteRetiredSince(t *testing.T, s *Store, site string, since []time.Time) []int {
	t.Helper()
	recs, err := s.Decisions(context.Background(), site, OutcomeDeactivated, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(since))
	for _, r := range recs {
		for i, at := range since {
			if !r.RecordedAt.Before(at) {
				out[i]++
			}
		}
	}
	return out
}

// TestRetiredSinceCountsAsTheRecordsSay runs on SQLite and PostgreSQL: the aggregate must
// equal both hand counts and the brute force over Decisions.
func TestRetiredSinceCountsAsTheRecordsSay(t *testing.T) {
	ctx := context.Background()
	edge := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	kathmandu := time.FixedZone("Asia/Kathmandu", 5*3600+45*60)
	type rec struct {
		site, id string
		outcome  Outcome
		at       time.Time
	}
	tests := []struct {
		rule  string
		recs  []rec
		since []time.Time
		want  []int
	}{
		{"nothing recorded counts nothing", nil, []time.Time{edge}, []int{0}},
		{"a retirement at the instant counts; a microsecond before does not",
			[]rec{{"a", "d1", OutcomeDeactivated, edge}, {"a", "d2", OutcomeDeactivated, edge.Add(-time.Microsecond)}},
			[]time.Time{edge}, []int{1}},
		{"each instant counts what is at or after it",
			[]rec{{"a", "d1", OutcomeDeactivated, edge.Add(-8 * 24 * time.Hour)}, {"a", "d2", OutcomeDeactivated, edge.Add(time.Hour)}, {"a", "d3", OutcomeDeactivated, edge.Add(30 * 24 * time.Hour)}},
			[]time.Time{edge.Add(-7 * 24 * time.Hour), edge, edge.Add(-14 * 24 * time.Hour)}, []int{2, 2, 3}},
		{"other outcomes and other sites do not count",
			[]rec{{"a", "d1", OutcomeFailed, edge}, {"a", "d2", OutcomeSuperseded, edge}, {"a", "d3", OutcomeWouldBe, edge}, {"a", "d4", OutcomeRefused, edge}, {"b", "d5", OutcomeDeactivated, edge}},
			[]time.Time{edge}, []int{0}},
		{"a failure later deactivated counts once, at its last recording",
			[]rec{{"a", "d1", OutcomeFailed, edge.Add(-time.Hour)}, {"a", "d1", OutcomeDeactivated, edge.Add(time.Hour)}},
			[]time.Time{edge}, []int{1}},
		{"a time recorded in another zone counts by the instant",
			[]rec{{"a", "d1", OutcomeDeactivated, edge.In(kathmandu)}, {"a", "d2", OutcomeDeactivated, edge.Add(-time.Microsecond).In(kathmandu)}},
			[]time.Time{edge.In(kathmandu)}, []int{1}},
	}
	for _, engine := range sqldbtest.Engines {
		open := func(t *testing.T) *Store {
			s, err := OpenStore(ctx, sqldbtest.Open(t, engine))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		record := func(t *testing.T, s *Store, r rec) {
			t.Helper()
			if err := s.Record(ctx, Record{Site: r.site, DecisionID: r.id, UserUUID: "u-" + r.id, Outcome: r.outcome, DecidedAt: r.at, RecordedAt: r.at}); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(engine, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.rule, func(t *testing.T) {
					s := open(t)
					for _, r := range tc.recs {
						record(t, s, r)
					}
					got, err := s.RetiredSince(ctx, "a", tc.since)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(got, bruteRetiredSince(t, s, "a", tc.since)) {
						t.Fatalf("RetiredSince = %v, want %v (brute force %v)", got, tc.want, bruteRetiredSince(t, s, "a", tc.since))
					}
				})
			}
			t.Run("a mixed history counts as the brute force does", func(t *testing.T) {
				s := open(t)
				rng := rand.New(rand.NewPCG(1, 2))
				outcomes := []Outcome{OutcomeDeactivated, OutcomeDeactivated, OutcomeFailed, OutcomeSuperseded, OutcomeWouldBe}
				var since []time.Time
				for w := range 13 {
					since = append(since, edge.Add(-time.Duration(w*7)*24*time.Hour))
				}
				for i := range 400 {
					at := edge.Add(time.Duration(rng.Int64N(int64(120*24*time.Hour))) - 100*24*time.Hour).Truncate(time.Microsecond)
					if rng.IntN(5) == 0 { // on an edge, or a microsecond either side
						at = since[rng.IntN(len(since))].Add(time.Duration(rng.IntN(3)-1) * time.Microsecond)
					}
					record(t, s, rec{[]string{"a", "a", "a", "b"}[rng.IntN(4)], fmt.Sprintf("d%03d", i), outcomes[rng.IntN(len(outcomes))], at})
				}
				got, err := s.RetiredSince(ctx, "a", since)
				if err != nil {
					t.Fatal(err)
				}
				if want := bruteRetiredSince(t, s, "a", since); !reflect.DeepEqual(got, want) || got[len(got)-1] < 100 {
					t.Fatalf("RetiredSince = %v, brute force %v", got, want)
				}
			})
			t.Run("no instants, a zero one or too many are refused", func(t *testing.T) {
				s := open(t)
				for _, tc := range []struct {
					since []time.Time
					want  string
				}{
					{nil, "0 instants"},
					{[]time.Time{edge, {}}, "instant 1 is zero"},
					{make([]time.Time, 101), "101 instants"},
				} {
					if _, err := s.RetiredSince(ctx, "a", tc.since); err == nil || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("RetiredSince(%d instants) = %v, want an error saying %q", len(tc.since), err, tc.want)
					}
				}
			})
		})
	}
}
