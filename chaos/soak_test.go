package chaos

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/testenv"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// TestSoak holds the separate login-ingest and policy processes under a steady load of
// login events (DORMANT_SOAK_RATE, default 5,000/s, through the HTTP intake in batches of
// 100, as OpenMRS hooks send them) with a policy tick every simulated hour, for
// DORMANT_SOAK_DURATION (default 10m). It samples each process's goroutines and resident
// memory and login-ingest's consumer lag from /metrics, and fails when they grow beyond
// noise or the lag does not drain. Run with DORMANT_SOAK=1 (make soak); not in CI.
func TestSoak(t *testing.T) {
	if os.Getenv("DORMANT_SOAK") == "" {
		t.Skip("set DORMANT_SOAK=1 (make soak)")
	}
	duration := envDuration(t, "DORMANT_SOAK_DURATION", 10*time.Minute)
	rate := 5000
	if v := os.Getenv("DORMANT_SOAK_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("DORMANT_SOAK_RATE=%q: want a positive number", v)
		}
		rate = n
	}
	tickEvery := envDuration(t, "DORMANT_SOAK_TICK_EVERY", 2*time.Second)

	r := &run{cfg: Config{Seed: 3, UsersPerSite: 2500, ActuatorRate: 200, PostgresURL: testenv.Postgres(t), WorkDir: t.TempDir(), Logf: t.Logf},
		faults: map[string]int{}, fakes: map[string]string{}, http: &http.Client{Timeout: 30 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), duration+15*time.Minute)
	defer cancel()
	defer r.stop()
	if err := r.setup(ctx); err != nil {
		t.Fatal(err)
	}
	var people []*Person
	for _, p := range r.model.People {
		if !p.retired() {
			people = append(people, p)
		}
	}
	// Simulated time: one hour per tick, starting 30 days back so logins are never "future".
	simStart := time.Now().UTC().Truncate(time.Hour).Add(-30 * Day)
	began := time.Now()
	simNow := func() time.Time { return simStart.Add(time.Duration(time.Since(began)/tickEvery) * time.Hour) }

	warm := 30 * time.Second
	sample := func(label string) soakSample {
		s := soakSample{label: label, at: time.Since(began).Round(time.Second)}
		s.ingest = scrape(ctx, r.ingestURL+"/metrics")
		s.policy = scrape(ctx, r.policyURLs[0]+"/metrics")
		return s
	}

	var sent, refused atomic.Int64
	loadCtx, stopLoad := context.WithTimeout(ctx, duration)
	defer stopLoad()
	batches := make(chan []cloudevents.Event, 16)
	var workers sync.WaitGroup
	for w := 0; w < 8; w++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for b := range batches {
				site := events.Site(b[0])
				if err := r.postIntake(ctx, site, b); err != nil {
					refused.Add(int64(len(b)))
					continue
				}
				sent.Add(int64(len(b)))
			}
		}()
	}
	// The producer: a batch of 100 events every 100/rate seconds, one site per batch, users
	// drawn with a skew (a few busy accounts, a long tail) and some failures and logouts.
	go func() {
		defer close(batches)
		rng := rand.New(rand.NewPCG(11, 12))
		zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(people)-1))
		interval := time.Duration(float64(time.Second) * 100 / float64(rate))
		next := time.Now()
		seq := 0
		for loadCtx.Err() == nil {
			site := sites[seq%len(sites)]
			base := simNow()
			var b []cloudevents.Event
			for len(b) < 100 {
				p := people[zipf.Uint64()]
				if p.Site != site {
					continue
				}
				seq++
				at := base.Add(time.Duration(rng.IntN(3600)) * time.Second)
				d := &events.UserSession{Event: events.EventLogin, Status: events.StatusSuccess, UserUUID: p.UUID, Username: p.Username, OccurredAt: at, Method: events.MethodForm}
				switch x := rng.IntN(20); {
				case x == 0:
					d.Status, d.UserUUID = events.StatusFailure, ""
				case x < 4:
					d.Event = events.EventLogout
				}
				ev, err := events.New("http://openmrs.soak/"+site, site, d, fmt.Sprintf("soak-%d", seq), at)
				if err != nil {
					panic(err)
				}
				b = append(b, ev)
			}
			select {
			case batches <- b:
			case <-loadCtx.Done():
				return
			}
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			} else if d < -time.Second {
				next = time.Now() // behind: do not burst to catch up
			}
		}
	}()
	// The clock: a tick per simulated hour.
	go func() {
		last := time.Time{}
		for loadCtx.Err() == nil {
			if at := simNow(); at.After(last) {
				ev, err := policysvc.TickEvent(at, time.Hour)
				if err == nil {
					if msg, err := events.ToNATS(r.ns.Tick(), ev); err == nil {
						_ = r.publish(loadCtx, msg)
					}
				}
				last = at
			}
			time.Sleep(tickEvery / 4)
		}
	}()

	time.Sleep(warm)
	first := sample("start (after 30 s warm-up)")
	samples := []soakSample{first}
	ticker := time.NewTicker(time.Minute)
	for loadCtx.Err() == nil {
		select {
		case <-ticker.C:
			s := sample("minute")
			samples = append(samples, s)
			t.Logf("soak %s: %d events sent (%.0f/s), lag %.0f, ingest %s, policy %s", s.at, sent.Load(), float64(sent.Load())/time.Since(began).Seconds(),
				s.ingest["dormant_ingest_consumer_pending"], s.ingest.brief(), s.policy.brief())
		case <-loadCtx.Done():
		}
	}
	ticker.Stop()
	workers.Wait()
	elapsed := time.Since(began)
	end := sample("end of load")
	// Drained: the lag must go back to zero once the load stops.
	drainStart := time.Now()
	var drained soakSample
	for {
		drained = sample("drained")
		if drained.ingest["dormant_ingest_consumer_pending"] == 0 || time.Since(drainStart) > 2*time.Minute {
			break
		}
		time.Sleep(time.Second)
	}
	samples = append(samples, end, drained)

	var maxLag float64
	for _, s := range samples {
		maxLag = max(maxLag, s.ingest["dormant_ingest_consumer_pending"])
	}
	fmt.Printf("soak: %s at a target of %d events/s: %d events accepted (%.0f/s), %d refused, %d ticks; lag max %.0f, drained in %s\n",
		elapsed.Round(time.Second), rate, sent.Load(), float64(sent.Load())/elapsed.Seconds(), refused.Load(), int(elapsed/tickEvery),
		maxLag, time.Since(drainStart).Round(time.Second))
	fmt.Println("| when | login-ingest goroutines | login-ingest RSS | policy goroutines | policy RSS | consumer lag |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range samples {
		fmt.Printf("| %s (%s) | %.0f | %.0f MiB | %.0f | %.0f MiB | %.0f |\n", s.label, s.at, s.ingest["go_goroutines"], s.ingest["process_resident_memory_bytes"]/(1<<20),
			s.policy["go_goroutines"], s.policy["process_resident_memory_bytes"]/(1<<20), s.ingest["dormant_ingest_consumer_pending"])
	}
	if refused.Load() > 0 {
		t.Errorf("%d events were not accepted by the intake", refused.Load())
	}
	if drained.ingest["dormant_ingest_consumer_pending"] != 0 {
		t.Errorf("consumer lag did not drain: %.0f pending 2 minutes after the load stopped", drained.ingest["dormant_ingest_consumer_pending"])
	}
	// Growth beyond noise: goroutines may wobble by in-flight requests, memory by GC timing.
	for name, pair := range map[string][2]metricSet{"login-ingest": {first.ingest, drained.ingest}, "policy": {first.policy, drained.policy}} {
		g0, g1 := pair[0]["go_goroutines"], pair[1]["go_goroutines"]
		if g1 > g0*1.5+20 {
			t.Errorf("%s goroutines grew from %.0f to %.0f", name, g0, g1)
		}
		m0, m1 := pair[0]["process_resident_memory_bytes"], pair[1]["process_resident_memory_bytes"]
		if m1 > m0*2+64<<20 {
			t.Errorf("%s resident memory grew from %.0f MiB to %.0f MiB", name, m0/(1<<20), m1/(1<<20))
		}
	}
	_, ik, ic := r.ingest.Counts()
	_, pk, pc := r.policies[0].Counts()
	if ik+pk > 0 || len(ic)+len(pc) > 0 {
		t.Errorf("a process restarted during the soak: %v %v", ic, pc)
	}
}

type soakSample struct {
	label          string
	at             time.Duration
	ingest, policy metricSet
}

// metricSet is a /metrics scrape: unlabelled samples by name, labelled ones summed.
type metricSet map[string]float64

func (m metricSet) brief() string {
	return fmt.Sprintf("%.0f goroutines %.0f MiB", m["go_goroutines"], m["process_resident_memory_bytes"]/(1<<20))
}

func scrape(ctx context.Context, url string) metricSet {
	out := metricSet{}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out
}

func envDuration(t *testing.T, key string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive Go duration", key, v)
	}
	return d
}
