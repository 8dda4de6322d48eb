package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

// The workload of the issue: 100k distinct users, a few of whom log in far more than the
// rest (Zipf), as on a national deployment's morning.
const (
	users      = 100_000
	throughput = 200_000 // events in the end-to-end and raw-publish runs
	naiveN     = 10_000  // events the naive baseline handles (it is slow)
	steadyRate = 10_000  // events/s of the latency run
	steadyFor  = 10 * time.Second
	site       = "bench"
)

// Goals of the issue.
const (
	goalRate      = 50_000.0
	goalVsRaw     = 0.5
	goalVsNaive   = 10.0
	goalP99       = 500 * time.Millisecond
	goalPeakBytes = 100 << 20
)

func userUUID(u uint64) string { return fmt.Sprintf("0b5e7d2a-0000-4000-8000-%012d", u) }

// workload builds n login events of Zipf-chosen users on subject, at times from base on,
// each up to an hour late, so most move a last login and some arrive after a later one.
func workload(t *testing.T, n int, subject string, base time.Time, seed uint64) []*nats.Msg {
	rng := rand.New(rand.NewPCG(seed, 7))
	zipf := rand.NewZipf(rng, 1.1, 1, users-1)
	out := make([]*nats.Msg, n)
	for i := range out {
		u := zipf.Uint64()
		at := base.Add(time.Duration(i)*time.Millisecond - time.Duration(rng.IntN(3600))*time.Second)
		out[i] = loginMsg(t, subject, u, at, fmt.Sprintf("bench-%d-%d", seed, i))
	}
	return out
}

func loginMsg(t *testing.T, subject string, u uint64, at time.Time, id string) *nats.Msg {
	ev, err := events.New("https://openmrs.bench/openmrs", site, &events.UserSession{
		Event: events.EventLogin, Status: events.StatusSuccess, UserUUID: userUUID(u), Username: fmt.Sprint("clinician", u),
		OccurredAt: at, Method: events.MethodForm, LocationUUID: "7f3c1a2b-0000-4000-8000-000000000001",
	}, id, at)
	if err != nil {
		t.Fatal(err)
	}
	m, err := events.ToNATS(subject, ev)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// publishAsync publishes msgs with JetStream's async API, keeping the client's window full,
// and returns when every one is acknowledged.
func publishAsync(t *testing.T, js jetstream.JetStream, msgs []*nats.Msg) {
	for _, m := range msgs {
		if _, err := js.PublishMsgAsync(m); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		t.Fatal("publish acks did not all arrive")
	}
}

// TestBenchmark prints the figures as ratio lines. Run with make bench:
//
//	DORMANT_BENCH=1 go test -count=1 -run TestBenchmark -v -timeout 30m ./services/login-ingest/bench/
func TestBenchmark(t *testing.T) {
	if os.Getenv("DORMANT_BENCH") != "1" {
		t.Skip("a benchmark, not a test: set DORMANT_BENCH=1 (make bench)")
	}
	nc, root := testenv.NATS(t)
	dsn := testenv.Postgres(t)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bus := infra.BusOptions{SubjectRoot: root, StreamReplicas: 1, DuplicateWindow: 2 * time.Minute}
	if err := infra.Provision(ctx, js, bus); err != nil {
		t.Fatal(err)
	}
	ns := bus.Namespace()
	bin := buildLoginIngest(t)
	base := time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Second)

	// (a') The raw JetStream async-publish rate of the same payloads, into a stream of the
	// same kind (file storage, duplicate window) that nobody consumes.
	raw := strings.ToUpper(root) + "_RAW"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: raw, Subjects: []string{root + ".raw.>"}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	payloads := workload(t, throughput, ns.Auth(site), base, 1)
	rawMsgs := make([]*nats.Msg, len(payloads))
	for i, m := range payloads {
		rawMsgs[i] = &nats.Msg{Subject: root + ".raw." + site, Header: m.Header, Data: m.Data}
	}
	start := time.Now()
	publishAsync(t, js, rawMsgs)
	rawRate := float64(len(rawMsgs)) / time.Since(start).Seconds()
	rawMsgs = nil
	if err := js.DeleteStream(ctx, raw); err != nil {
		t.Fatal(err)
	}

	// (a) End to end: published on NATS, committed in PostgreSQL, record published, acked.
	child := startLoginIngest(t, bin, root, dsn, "throughput")
	cons := waitForConsumer(t, js, ns.StreamAuth(), "login-ingest")
	start = time.Now()
	publishAsync(t, js, payloads)
	waitAcked(t, cons, uint64(len(payloads)))
	e2eRate := float64(len(payloads)) / time.Since(start).Seconds()
	peakThroughput := child.stop(t)
	payloads = nil

	// (b) The naive baseline on the same kind of events, already in the stream (the
	// kindest case for it): one upsert statement per event, its record published and its
	// ack confirmed one by one.
	naiveRate := runNaive(t, ctx, js, ns, dsn, workload(t, naiveN, ns.Auth(site), base.Add(time.Hour), 2))

	// (c, d) Latency and memory at a steady 10,000 events/s, in a fresh process.
	child = startLoginIngest(t, bin, root, dsn, "steady")
	waitForConsumer(t, js, ns.StreamAuth(), "login-ingest")
	from := time.Now()
	published := steady(t, js, ns, cons)
	p50, p99, samples := latencies(t, ctx, js, ns, from)
	peakSteady := child.stop(t)

	line := func(format string, args ...any) { fmt.Printf("login-ingest bench: "+format+"\n", args...) }
	verdict := func(ok bool) string {
		if ok {
			return "goal met"
		}
		return "GOAL MISSED"
	}
	line("raw JetStream async publish: %.0f events/s (%d events)", rawRate, throughput)
	line("end-to-end ingest: %.0f events/s (%d events, %d users, Zipf): ratio to goal %.0f = %.2f, %s", e2eRate, throughput, users, goalRate, e2eRate/goalRate, verdict(e2eRate >= goalRate))
	line("end-to-end / raw publish = %.2f (goal ≥ %.1f), %s", e2eRate/rawRate, goalVsRaw, verdict(e2eRate/rawRate >= goalVsRaw))
	line("naive baseline: %.0f events/s (%d events); end-to-end / naive = %.1f (goal ≥ %.0f), %s", naiveRate, naiveN, e2eRate/naiveRate, goalVsNaive, verdict(e2eRate/naiveRate >= goalVsNaive))
	line("latency publish→commit at %d events/s (%d published, %d sampled): p50 %s, p99 %s; p99 / %s = %.2f, %s", steadyRate, published, samples,
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), goalP99, float64(p99)/float64(goalP99), verdict(p99 < goalP99))
	line("peak RSS of login-ingest at %d events/s: %.1f MB; / 100 MB = %.2f, %s", steadyRate, mb(peakSteady), float64(peakSteady)/goalPeakBytes, verdict(peakSteady < goalPeakBytes))
	line("peak RSS of login-ingest at full speed (for information): %.1f MB", mb(peakThroughput))
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func buildLoginIngest(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "login-ingest")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/dormant-dev/dormant/services/login-ingest/cmd/login-ingest")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build login-ingest: %v\n%s", err, out)
	}
	return bin
}

type process struct {
	cmd *exec.Cmd
	log string
}

// startLoginIngest runs the real binary, configured as in production, with DORMANT_INGEST_*
// taken from the environment when set (to try other batch sizes).
func startLoginIngest(t *testing.T, bin, root, dsn, name string) *process {
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites.yaml")
	if err := os.WriteFile(sites, []byte("sites:\n  - id: "+site+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "DORMANT_NATS_URL="+testenv.NATSURL(), "DORMANT_DB="+dsn, "DORMANT_CONFIG="+sites,
		"DORMANT_SUBJECT_ROOT="+root, "DORMANT_HTTP_ADDR=127.0.0.1:0", "DORMANT_LOG_LEVEL=warn", "DORMANT_DATA_DIR="+dir,
		"DORMANT_DUPLICATE_WINDOW=2m")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, log: logPath}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		logFile.Close()
	})
	return p
}

// stop reads the process's peak resident set (VmHWM) and stops it gracefully.
func (p *process) stop(t *testing.T) int64 {
	peak := vmHWM(t, p.cmd.Process.Pid)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		out, _ := os.ReadFile(p.log)
		t.Fatalf("login-ingest exited with %v:\n%s", err, out)
	}
	return peak
}

func vmHWM(t *testing.T, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

func waitForConsumer(t *testing.T, js jetstream.JetStream, stream, name string) jetstream.Consumer {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := js.Consumer(context.Background(), stream, name); err == nil {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("login-ingest did not create its consumer")
	return nil
}

// waitAcked polls until the consumer's ack floor reaches the stream's last sequence: every
// event committed, its record published, and acked.
func waitAcked(t *testing.T, c jetstream.Consumer, atLeast uint64) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		info, err := c.Info(context.Background())
		if err == nil && info.AckFloor.Stream >= atLeast && info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("login-ingest did not ack everything in time")
}

// steady publishes at steadyRate for steadyFor, each login dated the instant it is
// published, and waits until all are acked. It returns how many it published.
func steady(t *testing.T, js jetstream.JetStream, ns events.Namespace, c jetstream.Consumer) int {
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const tick = 10 * time.Millisecond
	perTick := int(steadyRate * tick / time.Second)
	rng := rand.New(rand.NewPCG(3, 7))
	zipf := rand.NewZipf(rng, 1.1, 1, users-1)
	start := time.Now()
	n := 0
	for i := 0; time.Since(start) < steadyFor; i++ {
		// Catch up with the schedule rather than drift: the rate stays 10,000/s.
		for due := int(time.Since(start)/tick+1) * perTick; n < due; n++ {
			now := time.Now()
			if _, err := js.PublishMsgAsync(loginMsg(t, ns.Auth(site), zipf.Uint64(), now, fmt.Sprint("steady-", n))); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * tick)))
	}
	<-js.PublishAsyncComplete()
	waitAcked(t, c, info.AckFloor.Stream+uint64(n))
	return n
}

// latencies reads the record events published since from: each carries the login's instant
// (the publish time) and JetStream stamps when it stored the record, after the commit. The
// difference bounds publish→commit from above.
func latencies(t *testing.T, ctx context.Context, js jetstream.JetStream, ns events.Namespace, from time.Time) (p50, p99 time.Duration, n int) {
	cons, err := js.OrderedConsumer(ctx, ns.StreamRecords(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{ns.LastLogin(site)}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &from})
	if err != nil {
		t.Fatal(err)
	}
	var lat []time.Duration
	for {
		b, err := cons.Fetch(5000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range b.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			var d struct {
				At time.Time `json:"last_login_at"`
			}
			if err := json.Unmarshal(m.Data(), &d); err != nil {
				t.Fatal(err)
			}
			if d.At.After(from) {
				lat = append(lat, md.Timestamp.Sub(d.At))
			}
		}
		if got == 0 {
			break
		}
	}
	if len(lat) == 0 {
		t.Fatal("no record events to measure latency on")
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], len(lat)
}

// runNaive handles msgs the naive way and returns its rate: fetch, then per event decode,
// one upsert statement, publish the record and wait for its ack, ack and wait for the
// confirmation.
func runNaive(t *testing.T, ctx context.Context, js jetstream.JetStream, ns events.Namespace, dsn string, msgs []*nats.Msg) float64 {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE naive_last_login (site text, user_uuid text, username text, location_uuid text,
		last_login_at timestamptz NOT NULL, previous_login_at timestamptz, PRIMARY KEY (site, user_uuid))`); err != nil {
		t.Fatal(err)
	}
	stream := strings.ToUpper(ns.Root) + "_NAIVE"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{ns.Root + ".naive.>"}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		m.Subject = ns.Root + ".naive." + site
	}
	publishAsync(t, js, msgs)
	cons, err := js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "naive", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: ns.Root + ".naive." + site})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := 0
	for done < len(msgs) {
		b, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			ev, err := events.FromNATS(m.Headers(), m.Data())
			if err != nil {
				t.Fatal(err)
			}
			s, err := events.DecodeAs[*events.UserSession](ev)
			if err != nil {
				t.Fatal(err)
			}
			var moved bool
			if err := conn.QueryRow(ctx, `INSERT INTO naive_last_login AS t (site, user_uuid, username, location_uuid, last_login_at)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (site, user_uuid) DO UPDATE SET previous_login_at = t.last_login_at, username = EXCLUDED.username,
					location_uuid = EXCLUDED.location_uuid, last_login_at = EXCLUDED.last_login_at
				WHERE EXCLUDED.last_login_at > t.last_login_at
				RETURNING true`, site, s.UserUUID, s.Username, s.LocationUUID, s.OccurredAt).Scan(&moved); err != nil && err != pgx.ErrNoRows {
				t.Fatal(err)
			}
			if moved {
				rec, err := events.New(events.SourceFor("naive", site), site, &events.LastLoginRecorded{UserUUID: s.UserUUID, Username: s.Username,
					LastLoginAt: s.OccurredAt, LocationUUID: s.LocationUUID}, events.DerivedID("naive", s.UserUUID, s.OccurredAt.String()), s.OccurredAt)
				if err != nil {
					t.Fatal(err)
				}
				out, _ := events.ToNATS(ns.Root+".naive-records."+site, rec)
				out.Subject = ns.Root + ".naive.records"
				if _, err := js.PublishMsg(ctx, out); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			done++
		}
	}
	return float64(done) / time.Since(start).Seconds()
}
