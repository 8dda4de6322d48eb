package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	ingest "github.com/dormant-dev/dormant/services/login-ingest"
)

// The benchmark workload: batches of BatchSize logins by Users users, a few of whom log in
// far more than the rest (Zipf), as on a real site where clinicians log in all day and most
// accounts seldom.
const (
	BatchSize = 500
	Users     = 100_000
)

// Workload yields the benchmark's batches, the same sequence on every run (fixed seed).
// Logins come roughly in time order, one a second, each up to an hour late, so most move a
// last login forward and some arrive after a later one of the same user.
type Workload struct {
	rng  *rand.Rand
	zipf *rand.Zipf
	n    int
}

// NewWorkload starts the sequence.
func NewWorkload() *Workload {
	rng := rand.New(rand.NewPCG(20261123, 3))
	return &Workload{rng: rng, zipf: rand.NewZipf(rng, 1.1, 1, Users-1)}
}

// Next returns the next batch.
func (w *Workload) Next() []ingest.Login {
	b := make([]ingest.Login, BatchSize)
	for i := range b {
		u := w.zipf.Uint64()
		late := time.Duration(w.rng.IntN(3600)) * time.Second
		b[i] = ingest.Login{
			Site:         "bench",
			UserUUID:     fmt.Sprintf("user-%06d", u),
			Username:     fmt.Sprintf("clinician%d", u),
			LocationUUID: "ward-1",
			At:           t0.Add(time.Duration(w.n)*time.Second - late),
		}
		w.n++
	}
	return b
}

// Benchmark times record over the workload's batches (building them is not timed) and
// reports events/s. It returns that figure, so that a caller can compare two ways of
// recording. Compare runs with a fixed count (-benchtime=40x): with a duration, the faster
// way runs more batches into a larger table and the two no longer see the same workload.
func Benchmark(b *testing.B, record func(ctx context.Context, logins []ingest.Login) error) float64 {
	ctx := context.Background()
	w := NewWorkload()
	events := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		batch := w.Next()
		b.StartTimer()
		if err := record(ctx, batch); err != nil {
			b.Fatalf("record batch: %v", err)
		}
		events += len(batch)
	}
	rate := float64(events) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "events/s")
	return rate
}
