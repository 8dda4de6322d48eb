package roster_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/policy/roster"
)

// The schedule syncs at start; a sync that fails is retried soon (not after the interval) and
// resumes; the component stops cleanly when its context ends.
func TestScheduleRetriesAFailedSync(t *testing.T) {
	w := newWorld(t)
	w.addUsers("cook", 299)
	// Three answers of 503 outlast the client's two retries: the first sync fails at once.
	w.fake.InjectFault(openmrstest.Fault{Method: "GET", PathPrefix: "/user", Count: 3, Status: 503})
	sched := &roster.Schedule{
		Syncers:  []*roster.Syncer{w.syncer(w.client, roster.Options{PageSize: 100})},
		Interval: time.Hour, Retry: 20 * time.Millisecond, Log: zap.NewNop(),
	}
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		cp, err := w.store.Checkpoint(w.ctx, site)
		if err != nil {
			t.Fatal(err)
		}
		if !cp.LastCompletedAt.IsZero() {
			if cp.LastTotal != 300 {
				t.Errorf("finished sync read %d users, want 300", cp.LastTotal)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sync finished within 20s (an hour-long interval would mean the retry did not come sooner); checkpoint %+v", cp)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after its context ended", err)
	}
	if n := len(w.synced()); n != 300 {
		t.Errorf("%d users stored, want 300", n)
	}
}
