package bench

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/login-ingest/service"
	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

// TestProfile runs the consumer in this process over events already in the stream, so a CPU
// profile of the consuming alone can be taken (the child process of TestBenchmark has none):
//
//	DORMANT_BENCH=1 DORMANT_BENCH_CPUPROFILE=/tmp/ingest.pprof go test -count=1 -run TestProfile -v ./services/login-ingest/bench/
//	go tool pprof -top /tmp/ingest.pprof
//
// It prints the in-process rate too, which leaves out the publishing that TestBenchmark
// overlaps with the consuming.
func TestProfile(t *testing.T) {
	if os.Getenv("DORMANT_BENCH") != "1" {
		t.Skip("a benchmark, not a test: set DORMANT_BENCH=1")
	}
	const n = 100_000
	nc, root := testenv.NATS(t)
	dsn := testenv.Postgres(t)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bus := infra.BusOptions{SubjectRoot: root, StreamReplicas: 1, DuplicateWindow: 2 * time.Minute}
	if err := infra.Provision(ctx, js, bus); err != nil {
		t.Fatal(err)
	}
	ns := bus.Namespace()
	base := time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Second)
	publishAsync(t, js, workload(t, n, ns.Auth(site), base, 1))

	db, err := sqldb.Open(ctx, dsn, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sites, err := siteconfig.Parse([]byte("sites:\n  - id: " + site + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := service.New(ctx, service.Deps{Log: zap.NewNop(), JS: js, NS: ns, DB: db, Sites: sites}, service.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cons := waitForConsumer(t, js, ns.StreamAuth(), service.DefaultOptions().Consumer)

	if path := os.Getenv("DORMANT_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- in.Run(runCtx) }()
	waitAcked(t, cons, n)
	elapsed := time.Since(start)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fmt.Printf("login-ingest profile: %d events already in the stream consumed in-process in %s: %.0f events/s\n",
		n, elapsed.Round(time.Millisecond), n/elapsed.Seconds())
}
