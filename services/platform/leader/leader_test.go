package leader_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dormant-dev/dormant/services/platform/leader"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

// The tests run on a short lease so that expiries happen within a test's time.
const (
	ttl   = 2 * time.Second
	renew = ttl / 3
	retry = ttl / 10
)

// bucket connects to the test NATS and returns a JetStream and a bucket name of the test's
// own, deleted when the test ends.
func bucket(t *testing.T) (jetstream.JetStream, string) {
	t.Helper()
	nc, root := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name := root + "_leases"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := js.DeleteKeyValue(ctx, name); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
			t.Errorf("delete bucket %s: %v", name, err)
		}
	})
	return js, name
}

func options(bucket, id string) leader.Options {
	return leader.Options{Bucket: bucket, Name: "policy", ID: id, TTL: ttl, Renew: renew, Retry: retry}
}

// candidate is an Election campaigning in the background.
type candidate struct {
	*leader.Election
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	nc     *nats.Conn
}

func start(t *testing.T, js jetstream.JetStream, opts leader.Options) *candidate {
	t.Helper()
	c := &candidate{reg: prometheus.NewRegistry(), done: make(chan error, 1), nc: js.Conn()}
	opts.Registry = c.reg
	e, err := leader.New(context.Background(), js, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.Election = e
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		c.done <- e.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	}()
	t.Cleanup(c.stop)
	return c
}

// stop ends the campaign gracefully (the lease is given up) and waits for it.
func (c *candidate) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	<-c.done
}

func (c *candidate) gauge() float64 {
	mfs, _ := c.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "dormant_leader_is_leader" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

func transitions(t *testing.T, reg *prometheus.Registry, to string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "dormant_leader_transitions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "to" && l.GetValue() == to {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// overlapChecker samples the candidates' leases every millisecond and fails the test when two
// are valid at once. A pair counts only when the first is still valid after the second was
// seen valid, so a handover between two reads is not mistaken for an overlap.
func overlapChecker(t *testing.T, cs ...leader.Lease) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for i, a := range cs {
				for j, b := range cs {
					if i != j && a.Valid() && b.Valid() && a.Valid() {
						t.Errorf("candidates %d and %d both hold the lease", i, j)
						return
					}
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// leaderWithin waits until exactly one of cs leads and returns it.
func leaderWithin(t *testing.T, d time.Duration, cs ...*candidate) *candidate {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, c := range cs {
			if c.Valid() {
				return c
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no leader within %s", d)
	return nil
}

func TestOptionsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*leader.Options)
		want string
	}{
		{"a bucket is required", func(o *leader.Options) { o.Bucket = "" }, "bucket"},
		{"a name is required", func(o *leader.Options) { o.Name = "" }, "name"},
		{"a ttl under 500ms is refused", func(o *leader.Options) {
			o.TTL = 100 * time.Millisecond
			o.Renew = 10 * time.Millisecond
			o.Retry = 10 * time.Millisecond
		}, "ttl"},
		{"a renewal slower than half the ttl is refused", func(o *leader.Options) { o.Renew = ttl }, "renew"},
		{"a retry longer than the ttl is refused", func(o *leader.Options) { o.Retry = 2 * ttl }, "retry"},
		{"a skew over a quarter of the ttl is refused", func(o *leader.Options) { o.Skew = ttl / 2 }, "skew"},
		{"more than five replicas are refused", func(o *leader.Options) { o.Replicas = 7 }, "replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options("b", "x")
			tc.edit(&o)
			// Validation comes before any use of NATS, so no connection is needed.
			_, err := leader.New(context.Background(), nil, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestABucketWithAnotherTTLIsRefused(t *testing.T) {
	js, b := bucket(t)
	if _, err := leader.New(context.Background(), js, options(b, "a")); err != nil {
		t.Fatal(err)
	}
	o := options(b, "b")
	o.TTL, o.Renew, o.Retry = 3*time.Second, time.Second, 300*time.Millisecond
	_, err := leader.New(context.Background(), js, o)
	if err == nil || !strings.Contains(err.Error(), "2s") || !strings.Contains(err.Error(), "3s") {
		t.Fatalf("got %v, want an error naming both ttls", err)
	}
}

func TestOneLeaderAmongCandidates(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d candidates", n), func(t *testing.T) {
			js, b := bucket(t)
			var cs []*candidate
			var leases []leader.Lease
			for i := range n {
				c := start(t, js, options(b, fmt.Sprintf("c%d", i)))
				cs, leases = append(cs, c), append(leases, c)
			}
			overlapChecker(t, leases...)
			l := leaderWithin(t, ttl, cs...)
			// Several renewals later the same candidate still leads, alone.
			time.Sleep(3 * renew)
			holder, err := l.Holder(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !l.Valid() || holder != l.ID() {
				t.Fatalf("leader %s: valid %v, NATS says %q", l.ID(), l.Valid(), holder)
			}
			for _, c := range cs {
				want := 0.0
				if c == l {
					want = 1
				}
				if got := c.gauge(); got != want {
					t.Errorf("%s: dormant_leader_is_leader = %g, want %g", c.ID(), got, want)
				}
			}
		})
	}
}

func TestGracefulStopHandsOverAtOnce(t *testing.T) {
	js, b := bucket(t)
	// A long lease: a takeover within a fraction of it cannot be an expiry.
	long := func(id string) leader.Options {
		o := options(b, id)
		o.TTL, o.Renew, o.Retry = 20*time.Second, 5*time.Second, 2*time.Second
		return o
	}
	cs := []*candidate{start(t, js, long("a")), start(t, js, long("b")), start(t, js, long("c"))}
	overlapChecker(t, cs[0], cs[1], cs[2])
	first := leaderWithin(t, 5*time.Second, cs...)
	stopped := time.Now()
	first.stop()
	var rest []*candidate
	for _, c := range cs {
		if c != first {
			rest = append(rest, c)
		}
	}
	next := leaderWithin(t, 2*time.Second, rest...)
	took := time.Since(stopped)
	t.Logf("graceful handover from %s to %s took %s", first.ID(), next.ID(), took)
	if got := transitions(t, first.reg, "follower"); got != 1 {
		t.Errorf("stopped leader: dormant_leader_transitions_total{to=follower} = %g, want 1", got)
	}
	if got := transitions(t, next.reg, "leader"); got != 1 {
		t.Errorf("new leader: dormant_leader_transitions_total{to=leader} = %g, want 1", got)
	}
}

// TestHelperCandidate is a candidate in a process of its own, for the tests that kill or
// pause one. It prints its id, and while it leads, one "work <unix nanos>" line per attempt
// whose lease check passed, the time being read before the check.
func TestHelperCandidate(t *testing.T) {
	if os.Getenv("LEADER_HELPER_BUCKET") == "" {
		t.Skip("run by the kill and pause tests")
	}
	nc, err := nats.Connect(os.Getenv("LEADER_HELPER_NATS"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	e, err := leader.New(context.Background(), js, options(os.Getenv("LEADER_HELPER_BUCKET"), os.Getenv("LEADER_HELPER_ID")))
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
		_ = out.Flush()
	}
	say("ready")
	_ = e.Run(context.Background(), func(ctx context.Context) error {
		say("leading %d", time.Now().UnixNano())
		for ctx.Err() == nil {
			at := time.Now()
			if e.Valid() {
				say("work %d", at.UnixNano())
			}
			time.Sleep(2 * time.Millisecond)
		}
		say("stopped %d", time.Now().UnixNano())
		return nil
	})
}

// helper is a candidate process.
type helper struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	ended chan struct{}
}

func startHelper(t *testing.T, bucket, id string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCandidate$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LEADER_HELPER_BUCKET="+bucket, "LEADER_HELPER_ID="+id, "LEADER_HELPER_NATS="+testenv.NATSURL())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, ended: make(chan struct{})}
	go func() {
		defer close(h.ended)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			h.mu.Lock()
			h.lines = append(h.lines, s.Text())
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		<-h.ended
		_ = cmd.Wait()
	})
	return h
}

// times returns the instants of the lines starting with word.
func (h *helper) times(word string) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []time.Time
	for _, l := range h.lines {
		if rest, ok := strings.CutPrefix(l, word+" "); ok {
			n, _ := strconv.ParseInt(rest, 10, 64)
			out = append(out, time.Unix(0, n))
		}
	}
	return out
}

func (h *helper) waitFor(t *testing.T, word string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(h.times(word)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the helper printed no %q within %s", word, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKilledLeaderIsReplacedWithinTheTTL(t *testing.T) {
	js, b := bucket(t)
	h := startHelper(t, b, "doomed")
	h.waitFor(t, "work", 10*time.Second)
	follower := start(t, js, options(b, "heir"))
	time.Sleep(2 * renew)
	if follower.Valid() {
		t.Fatal("the follower leads while the leader is alive")
	}
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	leaderWithin(t, ttl+retry+time.Second, follower)
	took := time.Since(killed)
	t.Logf("takeover %s after the kill (ttl %s, retry %s)", took, ttl, retry)
	if took > ttl+retry+time.Second {
		t.Errorf("takeover took %s, want at most the ttl %s plus a retry %s", took, ttl, retry)
	}
}

func TestPausedLeaderDoesNoWorkAfterItsLeaseRanOut(t *testing.T) {
	js, b := bucket(t)
	h := startHelper(t, b, "sleeper")
	h.waitFor(t, "work", 10*time.Second)
	if err := h.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	heir := start(t, js, options(b, "heir"))
	leaderWithin(t, ttl+retry+time.Second, heir)
	tookOver := time.Now()
	// The paused process resumes while the heir leads, and runs for a few of its renewals.
	if err := h.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, "stopped", 5*time.Second)
	time.Sleep(3 * renew)
	if !heir.Valid() {
		t.Fatal("the heir lost the lease to the resumed process")
	}
	works := h.times("work")
	if len(works) == 0 {
		t.Fatal("the helper did no work before the pause: the test proves nothing")
	}
	for _, w := range works {
		if !w.Before(tookOver) {
			t.Fatalf("the resumed process worked at %s, after the heir took over at %s", w.Format(time.RFC3339Nano), tookOver.Format(time.RFC3339Nano))
		}
	}
	if n := len(h.times("leading")); n != 1 {
		t.Errorf("the resumed process led %d times, want once (before the pause)", n)
	}
}

// proxy forwards TCP connections to target until cut, which closes them all and refuses new
// ones until heal: a network partition between one client and NATS.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); p.setCut(true) })
	return p
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

func TestPartitionedLeaderStepsDownAndTheOtherTakesOver(t *testing.T) {
	js, b := bucket(t)
	u := strings.TrimPrefix(testenv.NATSURL(), "nats://")
	p := newProxy(t, u)
	nc, err := nats.Connect(p.url(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	pjs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cut := start(t, pjs, options(b, "cut-off"))
	leaderWithin(t, ttl, cut)
	other := start(t, js, options(b, "other"))
	overlapChecker(t, cut, other)

	p.setCut(true)
	partitioned := time.Now()
	leaderWithin(t, ttl+retry+time.Second, other)
	t.Logf("the other candidate took over %s after the partition", time.Since(partitioned))
	if cut.Valid() {
		t.Fatal("the cut-off candidate still believes it leads")
	}
	if got := transitions(t, cut.reg, "follower"); got != 1 {
		t.Errorf("cut-off candidate: transitions to follower = %g, want 1", got)
	}

	// Healed, the cut-off candidate follows; when the other stops, it takes over again.
	p.setCut(false)
	time.Sleep(4 * retry)
	if cut.Valid() {
		t.Fatal("the healed candidate took the lease from the leader")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !nc.IsConnected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	other.stop()
	stopped := time.Now()
	leaderWithin(t, ttl, cut)
	t.Logf("handover back after the heal took %s", time.Since(stopped))
}

// TestLeaseSurvivesANATSRestart restarts a NATS server (one of the test's own: the shared one
// is not ours to restart), shortly and then for longer than the lease.
func TestLeaseSurvivesANATSRestart(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	run := func() *server.Server {
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats did not start")
		}
		return s
	}
	srv := run()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	connect := func() jetstream.JetStream {
		nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	a := start(t, connect(), options("leases", "a"))
	leaderWithin(t, ttl, a)
	b := start(t, connect(), options("leases", "b"))
	overlapChecker(t, a, b)

	for _, down := range []time.Duration{100 * time.Millisecond, 2 * ttl} {
		srv.Shutdown()
		srv.WaitForShutdown()
		time.Sleep(down)
		if down > ttl && (a.Valid() || b.Valid()) {
			t.Fatalf("a candidate believes it leads after NATS was away for %s", down)
		}
		srv = run()
		restarted := time.Now()
		l := leaderWithin(t, ttl+2*time.Second, a, b)
		t.Logf("NATS away %s: %s leads %s after the restart", down, l.ID(), time.Since(restarted))
	}
}
