package roster_test

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy/roster"
)

// TestSync100k measures a roster sync of 100,000 users against the fake OpenMRS: the first
// (every user published, every person read), a second with nothing changed (list pages only),
// and a third after 1% of the users changed. Run with DORMANT_BENCH=1; docs/benchmarks.md
// records the figures.
func TestSync100k(t *testing.T) {
	if os.Getenv("DORMANT_BENCH") != "1" {
		t.Skip("set DORMANT_BENCH=1 to run the 100k-user roster sync")
	}
	const n = 100_000
	w := newWorld(t)
	uuids := w.addUsers("user", n-1)
	s := w.syncer(w.client, roster.Options{PageSize: 100, ProgressEvery: 20000})

	run := func(label string, wantPublished int) roster.Result {
		t.Helper()
		start := time.Now()
		res, err := s.Sync(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if res.Read != n || res.Published != wantPublished {
			t.Fatalf("%s: %+v, want %d read and %d published", label, res, n, wantPublished)
		}
		t.Logf("%s: %d users in %s (%.0f users/s), %d published, %d GET /person", label, res.Read, took.Round(time.Millisecond),
			float64(res.Read)/took.Seconds(), res.Published, res.PersonReads)
		return res
	}
	run("first sync", n)
	run("unchanged", 0)
	for _, u := range uuids[:n/100] {
		w.fake.SetUserProperty(u, "demo", "true")
	}
	run("1% changed", n/100)
	if got := len(w.synced()); got != n+n/100 {
		t.Fatalf("stream holds %d user events, want %d", got, n+n/100)
	}
	t.Logf("GOMAXPROCS %d, %s", runtime.GOMAXPROCS(0), runtime.Version())
}
