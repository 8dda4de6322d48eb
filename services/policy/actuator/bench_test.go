package actuator

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
)

// throughput retires n users through the fake OpenMRS answering every call after latency,
// with the actuator's default concurrency and the given rate limit, and returns the rate at
// which OpenMRS saw retirements: n over the time from starting the actuator to the last
// retire call. That span holds n-1 limiter intervals plus one retirement's own calls, so when
// the limit binds the result sits just under it.
func throughput(tb testing.TB, n int, limit float64, latency time.Duration) float64 {
	w := newWorld(tb)
	old := time.Now().UTC().Add(-100 * 24 * time.Hour)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = w.user(openmrstest.UserSpec{Username: fmt.Sprintf("bench%04d", i)}, old)
	}
	for i, id := range ids {
		w.request(events.DeactivationRequested{DecisionID: fmt.Sprintf("bench-%d", i), UserUUID: id, Username: fmt.Sprintf("bench%04d", i), LastLoginAt: &old})
	}
	w.fake.SetLatency(latency)
	w.opts = DefaultOptions()
	w.opts.Rate = limit
	start := time.Now()
	w.start(nil)
	deadline := start.Add(5 * time.Minute)
	for {
		var last time.Time
		count := 0
		for _, r := range w.fake.Retirements() {
			if r.Action == "retire" {
				count++
				if r.At.After(last) {
					last = r.At
				}
			}
		}
		if count > n {
			tb.Fatalf("%d retirements for %d users", count, n)
		}
		if count == n {
			return float64(n) / last.Sub(start).Seconds()
		}
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d users retired", count, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestThroughput checks the performance goals of issue 7; it takes about 10 s, so it runs
// only with DORMANT_BENCH=1 (make bench runs BenchmarkRetirements instead).
func TestThroughput(t *testing.T) {
	if os.Getenv("DORMANT_BENCH") != "1" {
		t.Skip("set DORMANT_BENCH=1 to measure the actuator's throughput")
	}
	const latency = 20 * time.Millisecond
	raised := throughput(t, 300, 10000, latency)
	t.Logf("rate limit raised (10000/s), %s per call, concurrency %d: %.1f retirements/s", latency, DefaultOptions().Concurrency, raised)
	if raised < 50 {
		t.Errorf("%.1f retirements/s with the limit raised, want at least 50", raised)
	}
	for _, limit := range []float64{10, 40} {
		got := throughput(t, int(limit*5), limit, latency)
		ratio := got / limit
		t.Logf("rate limit %g/s binding: measured %.2f/s, ratio %.3f", limit, got, ratio)
		if ratio < 0.95 || ratio > 1.0 {
			t.Errorf("measured/configured = %.3f, want 0.95 to 1.0", ratio)
		}
	}
}

// BenchmarkRetirements reports the same figures for `make bench`.
func BenchmarkRetirements(b *testing.B) {
	const latency = 20 * time.Millisecond
	for i := 0; i < b.N; i++ {
		raised := throughput(b, 300, 10000, latency)
		b.ReportMetric(raised, "retirements/s")
		got := throughput(b, 100, 20, latency)
		b.ReportMetric(got/20, "ratio@20/s")
	}
}
