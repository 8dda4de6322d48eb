package dormant_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dormant-dev/dormant/services/dormant"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

// TestAllInOnesOnOneNATSElectOneLeader: two all-in-one processes of one installation (an
// external NATS and PostgreSQL) run the roster sync, actuator and notifier in one of them only,
// and the other takes over when it stops. On the embedded NATS the process leads alone.
func TestAllInOnesOnOneNATSElectOneLeader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, root := testenv.NATS(t)
	nc.Close()
	cfg := testConfig(t)
	cfg.NATSURL = testenv.NATSURL()
	cfg.Bus.SubjectRoot = root
	cfg.DB = testenv.Postgres(t)
	cfg.Policy.Leader.LeaseTTL, cfg.Policy.Leader.RenewInterval = 3*time.Second, 500*time.Millisecond

	type proc struct {
		app  *dormant.App
		stop func()
	}
	start := func() proc {
		t.Helper()
		app, err := dormant.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- app.Run(runCtx) }()
		var stopped bool
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
			app.Close()
		}
		t.Cleanup(stop)
		return proc{app, stop}
	}
	a, b := start(), start()
	leading := func(p proc) bool { return isLeader(t, p.app.Infra.Registry) }

	waitFor(t, "one of the two to lead", func() bool { return leading(a) != leading(b) })
	// Held, not flapping: over a few renewals the same one leads and the other follows.
	first := leading(a)
	for range 8 {
		time.Sleep(250 * time.Millisecond)
		if leading(a) != first || leading(b) == first {
			t.Fatalf("leadership changed without a stop: a=%v b=%v", leading(a), leading(b))
		}
	}
	leader, follower := a, b
	if !first {
		leader, follower = b, a
	}
	leader.stop()
	waitFor(t, "the other to take over after a graceful stop", func() bool { return leading(follower) })
}

// isLeader reads dormant_leader_is_leader{election="policy"} from a process's registry; a
// process that has no election (it leads alone) has no such series and counts as not elected.
func isLeader(t *testing.T, reg *prometheus.Registry) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "dormant_leader_is_leader" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetGauge().GetValue() == 1 {
				return true
			}
		}
	}
	return false
}
