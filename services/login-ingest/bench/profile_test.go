package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
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
	msgs := workload(t, n, ns.Auth(site), base, 1)
	cpu, self := serverCPU(), selfCPU()
	publishStart := time.Now()
	publishAsync(t, js, msgs)
	publishElapsed, publishCPU, publisherCPU := time.Since(publishStart), serverCPU().minus(cpu), selfCPU()-self

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
	cpu, self = serverCPU(), selfCPU()
	start := time.Now()
	go func() { done <- in.Run(runCtx) }()
	waitAcked(t, cons, n)
	elapsed := time.Since(start)
	consumeCPU, ingestCPU := serverCPU().minus(cpu), selfCPU()-self
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	recs, err := js.Stream(ctx, ns.StreamRecords())
	if err != nil {
		t.Fatal(err)
	}
	info, err := recs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / n }
	fmt.Printf("login-ingest profile: raw async publish of %d events: %.0f events/s; CPU per event: publisher %.1f µs, nats-server %.1f µs, PostgreSQL %.1f µs\n",
		n, n/publishElapsed.Seconds(), per(publisherCPU), per(publishCPU.nats), per(publishCPU.postgres))
	fmt.Printf("login-ingest profile: the same events consumed in-process: %.0f events/s, %.2f record events published per event; CPU per event: login-ingest %.1f µs, nats-server %.1f µs, PostgreSQL %.1f µs\n",
		n/elapsed.Seconds(), float64(info.State.Msgs)/n, per(ingestCPU), per(consumeCPU.nats), per(consumeCPU.postgres))
	fmt.Println("login-ingest profile: (server CPU counts everything the shared servers did meanwhile, other tests' work included)")
}

// cpuTimes is the CPU time used so far by the machine's nats-server and PostgreSQL processes.
type cpuTimes struct{ nats, postgres time.Duration }

func (a cpuTimes) minus(b cpuTimes) cpuTimes {
	return cpuTimes{a.nats - b.nats, a.postgres - b.postgres}
}

// serverCPU sums utime+stime of every process named nats-server or postgres (backends come
// and go; one that exits between two readings makes the difference an underestimate).
func serverCPU() cpuTimes {
	var c cpuTimes
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue
		}
		switch strings.TrimSpace(string(comm)) {
		case "nats-server":
			c.nats += procCPU(d)
		case "postgres":
			c.postgres += procCPU(d)
		}
	}
	return c
}

func selfCPU() time.Duration { return procCPU("/proc/self") }

// procCPU reads utime+stime from /proc/<pid>/stat, in clock ticks of 10 ms.
func procCPU(dir string) time.Duration {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it start past the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}
