package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	policypg "github.com/dormant-dev/dormant/services/policy/postgres"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// Config sizes a chaos run.
type Config struct {
	Seed         uint64
	UsersPerSite int
	Days         int // simulated days with a tick each, the clock jump included
	JumpDay      int // the day the clock jumps JumpDays ahead at once (0: none)
	JumpDays     int
	// Kills is how many SIGKILLs and restarts to inject, spread over the days: login-ingest,
	// policy, the policy process while its actuator retires (actuator), and the nats-server.
	Kills int
	// PGDrops and OpenMRSFaults are how many times to terminate the services' PostgreSQL
	// connections and to break OpenMRS (5xx bursts, dropped connections, slow answers).
	PGDrops, OpenMRSFaults int
	// PolicyReplicas is how many policy processes run side by side (at least 1). They elect
	// the one that runs the roster sync, actuator and notifier through a NATS KV lease of
	// LeaseTTL (default 3s, renewed every LeaseTTL/3), so takeovers fit in the run.
	PolicyReplicas int
	LeaseTTL       time.Duration
	// ActuatorRate is DORMANT_ACTUATOR_RATE (default 4 per second and site); OpenMRS's log
	// must never show more, across replicas. It is low so that a tick's batch (up to 40 per
	// site) takes longer than RateWindow: only then would a second actuator show as more.
	ActuatorRate float64
	// Sabotage breaks the system on purpose to prove the oracle sees it: "retire" retires an
	// active user straight in OpenMRS halfway through; "policy" runs the services with
	// inactive_after 25d while the oracle keeps 30d; "election" deletes every lease as soon as
	// it is written while the actuator works through a large batch, as an outside writer of
	// the bucket would, so that two replicas lead at once. A sabotaged run must report
	// violations.
	Sabotage    string
	WorkDir     string // binaries, stores and logs
	PostgresURL string // bound to the run's own schema (testenv.Postgres)
	Logf        func(format string, args ...any)
}

// Result is what a run found.
type Result struct {
	Kills, Restarts, Faults int
	ByKind                  map[string]int
	Crashes                 []string // exits we did not cause
	Violations              []Violation
	Retired, Warnings       int
	Logins                  int
	Elapsed                 time.Duration
	// Takeovers are the times from a leader's SIGKILL or SIGSTOP until another replica led.
	Takeovers []time.Duration
	// MaxInWindow is, per site, the most retirements OpenMRS saw within RateWindow; RateLimit
	// is what one actuator at ActuatorRate may send in it.
	MaxInWindow map[string]int
	RateLimit   int
}

// Summary is the one line a run prints.
func (r Result) Summary() string {
	return fmt.Sprintf("chaos: %d kills, %d restarts, %d faults injected; %d violations", r.Kills, r.Restarts, r.Faults, len(r.Violations))
}

var sites = []string{"site-a", "site-b"}

const (
	tokenEnvPrefix = "CHAOS_TOKEN_"
	openmrsPassEnv = "CHAOS_OPENMRS_PASSWORD"
	barrierLimit   = 3 * time.Minute
	// RateWindow is the span over which OpenMRS's retirements are counted against the rate.
	RateWindow = 5 * time.Second
)

// run is one chaos run's moving parts.
type run struct {
	cfg        Config
	model      *Model
	ns         events.Namespace
	fakes      map[string]string // site → fake-openmrs base (http://addr)
	fakeP      []*Proc
	natsP      *Proc
	ingest     *Proc
	policies   []*Proc  // the policy replicas
	policyURLs []string // their HTTP servers (admin API, /metrics)
	ingestURL  string
	replicaBy  map[string]int // OpenMRS uuid of a replica's user → replica
	nc         *nats.Conn
	js         jetstream.JetStream
	db         *pgxpool.Pool
	pstore     *policypg.Store
	appName    string
	http       *http.Client

	mu       sync.Mutex
	sent     []SentLogin
	timeline []Mark
	faults   map[string]int
	found    []Violation
	inflight sync.WaitGroup
	chaosRng *rand.Rand
	chaosMu  sync.Mutex // guards chaosRng
	logins   atomic.Int64
	// Replicas: which are paused now (and when each resumed), the pauses, the takeovers, the
	// spans when OpenMRS's arrivals bunch.
	paused    map[int]bool
	resumed   map[int]time.Time
	pauses    []Pause
	takeovers []time.Duration
	bunched   []Interval
}

// Run builds the binaries, starts everything, plays the script with its faults and checks.
func Run(ctx context.Context, cfg Config) (Result, error) {
	start := time.Now()
	r := &run{cfg: cfg, faults: map[string]int{}, fakes: map[string]string{}, http: &http.Client{Timeout: 20 * time.Second},
		chaosRng: rand.New(rand.NewPCG(cfg.Seed+1, 7))}
	defer r.stop()
	if err := r.setup(ctx); err != nil {
		return Result{}, err
	}
	sctx, stopSampler := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { defer close(sampled); r.sampleLeaders(sctx) }()
	if err := r.play(ctx); err != nil {
		r.violation("run-stalled", "%v", err)
	}
	r.inflight.Wait()
	stopSampler()
	<-sampled
	res, err := r.check(ctx)
	if err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

func (r *run) logf(format string, args ...any) {
	if r.cfg.Logf != nil {
		r.cfg.Logf(format, args...)
	}
}

func (r *run) violation(rule, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.found = append(r.found, Violation{Rule: rule, Detail: fmt.Sprintf(format, args...)})
}

func (r *run) count(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults[kind]++
}

func (r *run) setup(ctx context.Context) error {
	r.cfg.PolicyReplicas = max(r.cfg.PolicyReplicas, 1)
	if r.cfg.LeaseTTL == 0 {
		r.cfg.LeaseTTL = 3 * time.Second
	}
	if r.cfg.ActuatorRate == 0 {
		r.cfg.ActuatorRate = 4
	}
	r.replicaBy, r.paused, r.resumed = map[string]int{}, map[int]bool{}, map[int]time.Time{}
	dir := r.cfg.WorkDir
	bin := filepath.Join(dir, "bin")
	r.logf("building dormant and fake-openmrs")
	if err := goBuild(ctx, bin, "github.com/dormant-dev/dormant/services/dormant/cmd/dormant",
		"github.com/dormant-dev/dormant/services/openmrs/cmd/fake-openmrs"); err != nil {
		return err
	}
	today := time.Now().UTC().Truncate(Day)
	// Simulated time ends days before now: login-ingest refuses logins from the future.
	first := today.Add(-time.Duration(r.cfg.Days+r.cfg.JumpDays+3) * Day)
	m, err := NewModel(Population{Seed: r.cfg.Seed, Sites: sites, UsersPerSite: r.cfg.UsersPerSite, Start: first})
	if err != nil {
		return err
	}
	r.model = m

	// One fake OpenMRS process per site, seeded with the site's people.
	for _, site := range sites {
		seed := struct {
			Roles map[string][]string    `json:"roles"`
			Users []openmrstest.UserSpec `json:"users"`
		}{Roles: map[string][]string{"User Manager": {openmrstest.PrivGetUsers, openmrstest.PrivEditUsers}}}
		// Each replica past the first signs in as its own super user, so the log of
		// retirements says which replica sent each (replica 0 is the built-in admin).
		for k := 1; k < r.cfg.PolicyReplicas; k++ {
			seed.Users = append(seed.Users, openmrstest.UserSpec{Username: replicaUser(k), Password: "Admin123", GivenName: "Replica",
				FamilyName: strconv.Itoa(k), SystemID: replicaUser(k), Roles: []string{openmrstest.SuperUserRole}})
		}
		for _, p := range m.People {
			if p.Site != site {
				continue
			}
			pass := p.ManagerPassword
			if pass == "" {
				pass = "Secret123"
			}
			seed.Users = append(seed.Users, openmrstest.UserSpec{Username: p.Username, Password: pass, GivenName: p.Given,
				FamilyName: p.Family, Roles: p.Roles, Created: p.Created, Retired: p.SeededRetired})
		}
		b, _ := json.Marshal(seed)
		seedFile := filepath.Join(dir, site+"-seed.json")
		if err := os.WriteFile(seedFile, b, 0o600); err != nil {
			return err
		}
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		p := &Proc{Name: "fake-openmrs-" + site, Path: filepath.Join(bin, "fake-openmrs"), Args: []string{"-addr", addr, "-seed", seedFile},
			Log: filepath.Join(dir, "fake-openmrs-"+site+".log")}
		if err := p.Start(); err != nil {
			return err
		}
		r.fakeP = append(r.fakeP, p)
		if err := waitListening(ctx, addr, 30*time.Second); err != nil {
			return err
		}
		r.fakes[site] = "http://" + addr
		var users []struct {
			UUID     string `json:"uuid"`
			Username string `json:"username"`
			SystemID string `json:"system_id"`
		}
		if err := r.getJSON(ctx, r.fakes[site]+"/_fake/users", &users); err != nil {
			return err
		}
		for _, u := range users {
			m.Bind(site, u.Username, u.UUID, u.SystemID)
			for k := 0; k < r.cfg.PolicyReplicas; k++ {
				if u.Username == replicaUser(k) {
					r.replicaBy[u.UUID] = k
				}
			}
		}
	}

	// Our own nats-server, which we may restart.
	natsBin, err := NATSServerPath()
	if err != nil {
		return err
	}
	natsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	if r.natsP, err = NewNATS(natsBin, natsAddr, dir); err != nil {
		return err
	}
	if err := r.natsP.Start(); err != nil {
		return err
	}
	if err := waitListening(ctx, natsAddr, 30*time.Second); err != nil {
		return err
	}
	natsURL := "nats://" + natsAddr
	r.nc, err = nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond), nats.Timeout(5*time.Second))
	if err != nil {
		return err
	}
	if r.js, err = jetstream.New(r.nc); err != nil {
		return err
	}
	r.ns = events.Namespace{Root: "dormant"}

	// The sites file: both sites live, with a policy block the model loads too. Each policy
	// replica has its own, which differs only in the OpenMRS user.
	writeSites := func(k int) (string, error) {
		var sb strings.Builder
		sb.WriteString("sites:\n")
		for _, site := range sites {
			fmt.Fprintf(&sb, "  - id: %s\n    openmrs_url: %s/openmrs\n    openmrs_user: %s\n    openmrs_password_env: %s\n    ingest_token_env: %s%s\n    policy:\n",
				site, r.fakes[site], replicaUser(k), openmrsPassEnv, tokenEnvPrefix, envName(site))
			block := PolicyBlock
			if r.cfg.Sabotage == "policy" {
				block = strings.Replace(block, "inactive_after: 30d", "inactive_after: 25d", 1)
			}
			for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
				sb.WriteString("      " + line + "\n")
			}
		}
		name := "sites.yaml"
		if k > 0 {
			name = fmt.Sprintf("sites-policy-%d.yaml", k)
		}
		file := filepath.Join(dir, name)
		return file, os.WriteFile(file, []byte(sb.String()), 0o600)
	}
	sitesFile, err := writeSites(0)
	if err != nil {
		return err
	}

	// Each process names itself to PostgreSQL, so the fault injector terminates only this
	// run's connections.
	r.appName = "chaos_" + schemaOf(r.cfg.PostgresURL)
	common := []string{
		"DORMANT_NATS_URL=" + natsURL, "DORMANT_LOG_LEVEL=info",
		"DORMANT_SUBJECT_ROOT=" + r.ns.Root, openmrsPassEnv + "=Admin123",
	}
	for _, site := range sites {
		common = append(common, tokenEnvPrefix+envName(site)+"="+tokenOf(site))
	}
	if r.ingestURL, err = freeAddr(); err != nil {
		return err
	}
	dormantBin := filepath.Join(bin, "dormant")
	r.ingest = &Proc{Name: "login-ingest", Path: dormantBin, Args: []string{"serve"}, Log: filepath.Join(dir, "login-ingest.log"),
		Env: append(append([]string{}, common...), "DORMANT_CONFIG="+sitesFile, "DORMANT_TARGET=ingest", "DORMANT_HTTP_ADDR="+r.ingestURL,
			"DORMANT_DATA_DIR="+filepath.Join(dir, "ingest-data"), "DORMANT_DB="+withApp(r.cfg.PostgresURL, r.appName+"_ingest"),
			"DORMANT_INGEST_ACK_WAIT=5s", "DORMANT_INGEST_BATCH_WAIT=50ms")}
	r.ingestURL = "http://" + r.ingestURL
	for k := 0; k < r.cfg.PolicyReplicas; k++ {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		file, err := writeSites(k)
		if err != nil {
			return err
		}
		env := append([]string{}, common...)
		env = append(env, "DORMANT_CONFIG="+file, "DORMANT_TARGET=policy", "DORMANT_HTTP_ADDR="+addr,
			"DORMANT_DATA_DIR="+filepath.Join(dir, fmt.Sprintf("policy-%d-data", k)), "DORMANT_DB="+withApp(r.cfg.PostgresURL, fmt.Sprintf("%s_policy%d", r.appName, k)),
			"DORMANT_CLOCK_ENABLED=false", "DORMANT_POLICY_ACK_WAIT=5s", "DORMANT_POLICY_BATCH_WAIT=50ms",
			"DORMANT_ACTUATOR_ACK_WAIT=5s", fmt.Sprintf("DORMANT_ACTUATOR_RATE=%g", r.cfg.ActuatorRate), "DORMANT_ACTUATOR_RETRY_BACKOFF=1s",
			"DORMANT_ACTUATOR_MAX_RETRY_BACKOFF=4s", "DORMANT_ACTUATOR_MAX_ATTEMPTS=100", "DORMANT_ROSTER_SYNC_INTERVAL=1h",
			"DORMANT_LEADER_LEASE_TTL="+r.cfg.LeaseTTL.String(), "DORMANT_LEADER_RENEW_INTERVAL="+(r.cfg.LeaseTTL/3).String(),
			"DORMANT_NOTIFY_DIGEST_AT=off", "DORMANT_ADMIN_SESSION_KEY="+strings.Repeat("c", 40))
		r.policies = append(r.policies, &Proc{Name: fmt.Sprintf("policy-%d", k), Path: dormantBin, Args: []string{"serve"},
			Log: filepath.Join(dir, fmt.Sprintf("policy-%d.log", k)), Env: env})
		r.policyURLs = append(r.policyURLs, "http://"+addr)
	}
	// The policy processes first: they migrate their tables, which the harness then reads.
	for _, p := range r.policies {
		if err := p.Start(); err != nil {
			return err
		}
	}
	if err := r.ingest.Start(); err != nil {
		return err
	}
	if r.db, err = pgxpool.New(ctx, withApp(r.cfg.PostgresURL, "chaos_harness")); err != nil {
		return err
	}
	r.logf("waiting for the roster sync of %d people", len(m.People))
	if err := r.waitFor(ctx, "roster synced", func() (bool, error) {
		var n int
		err := r.db.QueryRow(ctx, `SELECT count(*) FROM policy_users WHERE synced_at IS NOT NULL`).Scan(&n)
		return n >= len(m.People)+len(sites)*r.cfg.PolicyReplicas, ignoreUndefined(err)
	}); err != nil {
		return err
	}
	sdb, err := sqldb.Open(ctx, withApp(r.cfg.PostgresURL, "chaos_harness_store"), "")
	if err != nil {
		return err
	}
	if r.pstore, err = policypg.Open(ctx, sdb); err != nil {
		return err
	}
	return nil
}

func (r *run) stop() {
	for _, p := range append([]*Proc{r.ingest}, r.policies...) {
		if p != nil {
			p.Stop(10 * time.Second)
		}
	}
	if r.nc != nil {
		r.nc.Close()
	}
	if r.natsP != nil {
		r.natsP.Stop(10 * time.Second)
	}
	for _, p := range r.fakeP {
		p.Stop(5 * time.Second)
	}
	if r.pstore != nil {
		_ = r.pstore.Close()
	}
	if r.db != nil {
		r.db.Close()
	}
}

// fault is one scheduled fault: its kind and the phase of the day it fires in.
type fault struct {
	kind  string // kill-ingest, kill-policy or kill-leader and kill-follower, kill-actuator, pause-leader, restart-nats, pg-drop, openmrs-5xx, openmrs-drop, openmrs-slow
	phase string // send, tick
}

// schedule spreads the faults over the days, deterministically from the seed.
func (r *run) schedule() map[int][]fault {
	plan := map[int][]fault{}
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 99))
	kills := []string{"kill-ingest", "kill-policy", "kill-actuator", "restart-nats"}
	if r.cfg.PolicyReplicas > 1 {
		// The leader runs the actuator: kill it, a follower, and pause it past its lease.
		kills = []string{"kill-ingest", "kill-leader", "kill-actuator", "kill-follower", "restart-nats", "pause-leader"}
	}
	// Every kind comes once before any comes twice, so a short run still has each.
	place := func(n int, kinds []string) {
		for i := 0; i < n; i++ {
			day := 2 + (i*(r.cfg.Days-3))/max(n, 1) + rng.IntN(2)
			phase := []string{"send", "tick"}[rng.IntN(2)]
			k := (i + rng.IntN(2)) % len(kinds)
			if i < len(kinds) {
				k = (i*5 + 2) % len(kinds) // spread the kinds over the days
			}
			plan[day] = append(plan[day], fault{kind: kinds[k], phase: phase})
		}
	}
	place(r.cfg.Kills, kills)
	place(r.cfg.PGDrops, []string{"pg-drop"})
	place(r.cfg.OpenMRSFaults, []string{"openmrs-5xx", "openmrs-drop", "openmrs-slow"})
	return plan
}

// play runs the script day by day: logins (with duplicates, reordering and stale replays),
// a barrier until the projection has them, exemptions, the tick (with duplicate and stale
// ticks), a barrier until it is decided, approvals of held batches, a barrier until the
// actuator has carried out every request. Faults fire in the phases the schedule gives.
func (r *run) play(ctx context.Context) error {
	m := r.model
	plan := r.schedule()
	prev := m.Start.Add(-Day)
	// Faults aimed at the actuator at work wait for a tick that releases requests.
	var pendingActuator []string
	for day := 1; day <= r.cfg.Days; day++ {
		at := prev.Add(Day)
		var logins []Login
		if day == r.cfg.JumpDay {
			// The clock jumps: the days between pass with logins but no tick.
			for g := 0; g < r.cfg.JumpDays; g++ {
				from := prev.Add(time.Duration(g) * Day)
				logins = append(logins, m.DayLogins(day, from, from.Add(Day))...)
			}
			at = prev.Add(time.Duration(r.cfg.JumpDays) * Day)
			r.count("clock-jump")
		} else {
			logins = m.DayLogins(day, prev, at)
		}
		faults := plan[day]
		for _, f := range faults {
			if f.kind == "kill-actuator" || f.kind == "pause-leader" {
				pendingActuator = append(pendingActuator, f.kind)
			}
		}
		if err := r.send(ctx, logins, prev, at, func() { r.fire(faults, "send") }); err != nil {
			return err
		}
		m.Apply(logins)
		if err := r.waitProjection(ctx); err != nil {
			return fmt.Errorf("day %d: %w", day, err)
		}
		if day%5 == 3 {
			if err := r.exemptSome(ctx, at); err != nil {
				return err
			}
		}

		results := m.Tick(at)
		stopThief := func() {}
		if r.cfg.Sabotage == "election" && releasedCount(results) >= 10 {
			r.logf("sabotage: deleting every lease as it is written while the actuator retires %d users", releasedCount(results))
			stopThief = r.stealLease(ctx)
		}
		r.mu.Lock()
		r.timeline = append(r.timeline, Mark{Wall: time.Now(), Sim: at})
		r.mu.Unlock()
		if err := r.publishTick(ctx, at, day); err != nil {
			return err
		}
		r.fire(faults, "tick")
		if err := r.waitTick(ctx, at); err != nil {
			return fmt.Errorf("day %d: %w", day, err)
		}
		var released []Request
		for _, res := range results {
			released = append(released, res.Released...)
		}
		if len(pendingActuator) > 0 && len(released) > 0 {
			// The actuator is at work on this tick's requests right now: kill its process, or
			// freeze it past its lease while it holds requests.
			kind := pendingActuator[0] + "-now"
			pendingActuator = pendingActuator[1:]
			r.fire([]fault{{kind: kind}}, "")
		}
		for _, res := range results {
			if res.Held == nil {
				continue
			}
			rel, err := r.approve(ctx, res.Held, day == r.cfg.JumpDay)
			if err != nil {
				return fmt.Errorf("day %d: approve: %w", day, err)
			}
			released = append(released, rel...)
		}
		err := r.waitActuator(ctx, released)
		stopThief()
		if err != nil {
			return fmt.Errorf("day %d: %w", day, err)
		}
		if r.cfg.Sabotage == "retire" && day == r.cfg.Days/2 {
			if err := r.sabotageRetire(ctx); err != nil {
				return err
			}
		}
		if day%10 == 0 || day == r.cfg.Days {
			r.logf("day %d (%s): %d logins, %d retired so far", day, at.Format(time.DateOnly), r.logins.Load(), len(m.reqs))
		}
		prev = at
	}
	return nil
}

// sabotageRetire retires a regular user who is nowhere near due, behind dormant's back, as
// a wrongful retirement by a broken actuator would look in OpenMRS.
func (r *run) sabotageRetire(ctx context.Context) error {
	for _, p := range r.model.People {
		if p.Profile != Regular || p.retired() || p.ManagerPassword != "" {
			continue
		}
		// Retried through the OpenMRS faults the run injects, as the sabotage must land.
		err := retry(ctx, "sabotage", func() (bool, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, r.fakes[p.Site]+"/openmrs/ws/rest/v1/user/"+p.UUID+"?reason=sabotage", nil)
			req.SetBasicAuth("admin", "Admin123")
			resp, err := r.http.Do(req)
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			return resp.StatusCode/100 == 2, nil
		})
		r.logf("sabotage: retired %s behind dormant's back", p.Username)
		return err
	}
	return errors.New("sabotage: no regular user to retire")
}

// chaosIntN draws from the fault generator, which the fault goroutines share: a math/rand
// generator is not safe for concurrent use.
func (r *run) chaosIntN(n int) int {
	r.chaosMu.Lock()
	defer r.chaosMu.Unlock()
	return r.chaosRng.IntN(n)
}

// fire starts the faults of a phase; each runs on its own, as a real failure would.
func (r *run) fire(faults []fault, phase string) {
	for _, f := range faults {
		if f.phase != phase || f.kind == "kill-actuator" || f.kind == "pause-leader" {
			continue
		}
		delay := time.Duration(r.chaosIntN(400)) * time.Millisecond
		down := time.Duration(200+r.chaosIntN(1500)) * time.Millisecond
		kind := f.kind
		r.inflight.Add(1)
		go func() {
			defer r.inflight.Done()
			time.Sleep(delay)
			r.inject(kind, down)
		}()
	}
}

func (r *run) inject(kind string, down time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch kind {
	case "kill-ingest":
		r.ingest.Kill(down)
	case "kill-policy":
		r.policies[0].Kill(down)
	case "kill-leader", "kill-actuator-now":
		// The actuator runs in the leader, so killing the actuator is killing the leader.
		if kind == "kill-actuator-now" {
			kind = "kill-actuator"
		}
		k := r.findLeader(ctx)
		r.policies[k].Kill(down)
		r.measureTakeover(ctx, time.Now())
	case "kill-follower":
		r.policies[r.follower(ctx)].Kill(down)
	case "pause-leader-now":
		kind = "pause-leader"
		r.pauseLeader(ctx)
	case "restart-nats":
		r.natsP.Kill(down)
	case "pg-drop":
		// Only this run's services: their connections carry our application_name.
		if _, err := r.db.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`,
			r.appName+"\\_%"); err != nil {
			r.logf("pg-drop: %v", err)
		}
	case "openmrs-5xx", "openmrs-drop", "openmrs-slow":
		for _, base := range r.fakes {
			switch kind {
			case "openmrs-5xx":
				status := []int{500, 502, 503}[r.chaosIntN(3)]
				_ = r.postJSON(ctx, base+"/_fake/faults", openmrstest.Fault{PathPrefix: "/user", Count: 2 + r.chaosIntN(6), Status: status}, nil)
			case "openmrs-drop":
				_ = r.postJSON(ctx, base+"/_fake/faults", openmrstest.Fault{PathPrefix: "/user", Count: 2 + r.chaosIntN(4), Drop: true}, nil)
			case "openmrs-slow":
				r.mu.Lock()
				r.bunched = append(r.bunched, Interval{From: time.Now(), To: time.Now().Add(time.Hour)})
				r.mu.Unlock()
				_ = r.postJSON(ctx, base+"/_fake/latency?d=1500ms", nil, nil)
			}
		}
		if kind == "openmrs-slow" {
			time.Sleep(4 * time.Second)
			for _, base := range r.fakes {
				_ = r.postJSON(ctx, base+"/_fake/latency?d=0s", nil, nil)
			}
			// Requests sent in the last 1.5 s land together with those sent from now on.
			r.mu.Lock()
			for i := range r.bunched {
				if r.bunched[i].To.After(time.Now()) {
					r.bunched[i].To = time.Now().Add(3 * time.Second)
				}
			}
			r.mu.Unlock()
		}
	}
	r.count(kind)
}

// send delivers a day's logins with the noise a real feed has: logouts and failed logins
// (which must not count), duplicates under the same id (JetStream drops them) and under new
// ids (the store's GREATEST ignores them), stale replays of older logins, all shuffled, half
// through the HTTP intake and half straight onto NATS. mid runs halfway through.
func (r *run) send(ctx context.Context, logins []Login, from, to time.Time, mid func()) error {
	rng := r.model.Rand()
	type item struct {
		site  string
		ev    cloudevents.Event
		login *SentLogin
	}
	var items []item
	mk := func(site, id string, d *events.UserSession) item {
		ev, err := events.New("http://openmrs.chaos/"+site, site, d, id, d.OccurredAt)
		if err != nil {
			panic(err) // the script builds valid events; anything else is a bug here
		}
		return item{site: site, ev: ev}
	}
	for _, l := range logins {
		d := &events.UserSession{Event: events.EventLogin, Status: events.StatusSuccess, UserUUID: l.UUID, Username: l.Username,
			OccurredAt: l.At, Method: events.MethodForm}
		it := mk(l.Site, events.DerivedID("chaos-login", l.Site, l.UUID, l.At.String()), d)
		it.login = &SentLogin{UUID: l.UUID, OccurredAt: l.At}
		items = append(items, it)
		switch x := rng.Float64(); {
		case x < 0.05:
			items = append(items, it) // the same event again: the hook retrying
			r.count("duplicate")
		case x < 0.08:
			items = append(items, mk(l.Site, events.DerivedID("chaos-dup", l.Site, l.UUID, l.At.String()), d)) // same login, new id
			r.count("duplicate")
		}
		if rng.Float64() < 0.3 && to.Sub(l.At) > 2*time.Second {
			out := *d
			out.Event, out.OccurredAt = events.EventLogout, l.At.Add(time.Duration(1+rng.IntN(int(to.Sub(l.At)/time.Second)-1))*time.Second)
			items = append(items, mk(l.Site, events.DerivedID("chaos-logout", l.Site, l.UUID, out.OccurredAt.String()), &out))
		}
	}
	// Failed logins: no uuid, as OpenMRS's hook sends them; retired people try too.
	for _, p := range r.model.People {
		if rng.Float64() < 0.02 {
			at := from.Add(time.Duration(1+rng.IntN(int(to.Sub(from)/time.Second)-1)) * time.Second)
			d := &events.UserSession{Event: events.EventLogin, Status: events.StatusFailure, Username: p.Username, OccurredAt: at, Method: events.MethodForm}
			items = append(items, mk(p.Site, events.DerivedID("chaos-fail", p.Site, p.Username, at.String()), d))
		}
	}
	// Stale replays: older logins again under new ids, arriving after newer ones.
	r.mu.Lock()
	old := r.sent
	if len(old) > 0 {
		for i := 0; i < len(logins)/50+1; i++ {
			s := old[rng.IntN(len(old))]
			p := r.model.Person(s.UUID)
			d := &events.UserSession{Event: events.EventLogin, Status: events.StatusSuccess, UserUUID: s.UUID, Username: p.Username,
				OccurredAt: s.OccurredAt, Method: events.MethodAPI}
			it := mk(p.Site, events.DerivedID("chaos-replay", s.UUID, s.OccurredAt.String(), to.String()), d)
			it.login = &SentLogin{UUID: s.UUID, OccurredAt: s.OccurredAt}
			items = append(items, it)
			r.faults["stale-replay"]++
		}
	}
	r.mu.Unlock()
	rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	r.faults["reordered-day"]++

	for start := 0; start < len(items); {
		if start <= len(items)/2 && start+50 > len(items)/2 && mid != nil {
			mid()
			mid = nil
		}
		// A chunk of one site's events, then the same chunk goes by one path.
		site := items[start].site
		end := start
		var chunk []cloudevents.Event
		for end < len(items) && len(chunk) < 50 && items[end].site == site {
			chunk = append(chunk, items[end].ev)
			end++
		}
		var err error
		if rng.IntN(2) == 0 {
			err = r.postIntake(ctx, site, chunk)
		} else {
			err = r.publishAll(ctx, site, chunk)
		}
		if err != nil {
			return err
		}
		now := time.Now()
		r.mu.Lock()
		for _, it := range items[start:end] {
			if it.login != nil {
				s := *it.login
				s.SentAt = now
				r.sent = append(r.sent, s)
			}
		}
		r.mu.Unlock()
		start = end
	}
	if mid != nil {
		mid()
	}
	r.logins.Add(int64(len(logins)))
	return nil
}

// postIntake POSTs a batch to login-ingest as the OpenMRS hook does, retrying while the
// service is down or answers 429/5xx (the hook spools and retries the same way).
func (r *run) postIntake(ctx context.Context, site string, evs []cloudevents.Event) error {
	body, ctype, err := events.ToHTTPBatch(evs)
	if err != nil {
		return err
	}
	return retry(ctx, "intake", func() (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.ingestURL+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+tokenOf(site))
		resp, err := r.http.Do(req)
		if err != nil {
			return false, nil
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusAccepted:
			return true, nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			return false, nil
		default:
			return false, fmt.Errorf("intake refused a valid batch: %s %s", resp.Status, b)
		}
	})
}

// publishAll publishes straight onto the site's auth subject, as other publishers do,
// retrying while the nats-server is down; the event id dedupes the retries.
func (r *run) publishAll(ctx context.Context, site string, evs []cloudevents.Event) error {
	for _, ev := range evs {
		msg, err := events.ToNATS(r.ns.Auth(site), ev)
		if err != nil {
			return err
		}
		if err := r.publish(ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) publish(ctx context.Context, msg *nats.Msg) error {
	return retry(ctx, "publish", func() (bool, error) {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := r.js.PublishMsg(pctx, msg)
		return err == nil, nil
	})
}

// publishTick publishes the day's tick; on some days it is sent twice, or followed by a
// stale tick under a fresh id (reordered clock), which the policy must ignore.
func (r *run) publishTick(ctx context.Context, at time.Time, day int) error {
	ev, err := policysvc.TickEvent(at, Day)
	if err != nil {
		return err
	}
	msg, err := events.ToNATS(r.ns.Tick(), ev)
	if err != nil {
		return err
	}
	if err := r.publish(ctx, msg); err != nil {
		return err
	}
	switch day % 4 {
	case 1:
		if err := r.publish(ctx, msg); err != nil {
			return err
		}
		r.count("duplicate-tick")
	case 2:
		if day > 3 {
			old := at.Add(-3 * Day)
			stale, err := events.New("/dormant/chaos", "", &events.ClockTick{At: old, Period: events.FormatISODuration(Day)},
				events.DerivedID("chaos-stale-tick", old.String(), at.String()), old)
			if err != nil {
				return err
			}
			smsg, err := events.ToNATS(r.ns.Tick(), stale)
			if err != nil {
				return err
			}
			if err := r.publish(ctx, smsg); err != nil {
				return err
			}
			r.count("stale-tick")
		}
	}
	return nil
}

// exemptSome exempts a warned person per site through the policy store (the admin's path
// writes wall-clock times, which would not protect in simulated time), for a while or until
// removed, just before the tick.
func (r *run) exemptSome(ctx context.Context, at time.Time) error {
	rng := r.model.Rand()
	for _, site := range sites {
		pending := r.model.Pending(site)
		if len(pending) == 0 {
			continue
		}
		p := pending[rng.IntN(len(pending))]
		var until *time.Time
		if rng.IntN(3) > 0 {
			u := at.Add(time.Duration(5+rng.IntN(15)) * Day)
			until = &u
		}
		if err := r.putExemption(ctx, p, at.Add(-time.Hour), until, false); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) putExemption(ctx context.Context, p *Person, createdAt time.Time, until *time.Time, duringApproval bool) error {
	e := r.model.Exempt(p, createdAt, until, duringApproval)
	r.count("exemption")
	return retry(ctx, "exemption", func() (bool, error) {
		err := r.pstore.PutExemption(ctx, p.Site, e, policy.HistoryEntry{Site: p.Site, UserUUID: p.UUID, Kind: policy.HistoryExemptionAdded,
			At: createdAt, By: "chaos", Reason: e.Reason})
		return err == nil, nil
	})
}

// approve releases a held batch through the admin JSON API, signed in as the site's manager.
// On the clock jump's batch one held user logs in and another is exempted first: the
// approval must leave both out.
func (r *run) approve(ctx context.Context, h *Held, jump bool) ([]Request, error) {
	r.count("held-batch")
	if jump && len(h.Requests) >= 3 {
		login := h.Requests[0]
		p := r.model.Person(login.UUID)
		l := Login{Site: h.Site, UUID: p.UUID, Username: p.Username, At: h.At.Add(time.Hour)}
		if err := r.send(ctx, []Login{l}, h.At, h.At.Add(2*time.Hour), nil); err != nil {
			return nil, err
		}
		r.model.Apply([]Login{l})
		if err := r.waitProjection(ctx); err != nil {
			return nil, err
		}
		if err := r.putExemption(ctx, r.model.Person(h.Requests[1].UUID), h.At.Add(time.Hour), nil, true); err != nil {
			return nil, err
		}
	}
	// Any replica serves the admin API; one that dies mid-way is left for the next, which
	// signs in afresh. An approval whose answer was lost shows as no pending batch any more.
	var now time.Time
	attempt, sent, checked := 0, false, false
	if err := retry(ctx, "approve", func() (bool, error) {
		base := r.policyURLs[attempt%len(r.policyURLs)]
		attempt++
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
		var sess struct {
			CSRF string `json:"csrf_token"`
		}
		if err := r.doJSON(ctx, c, http.MethodPost, base+"/api/v1/session", "", map[string]string{"site": h.Site, "username": "manager", "password": "Manager123"}, &sess); err != nil {
			return false, nil
		}
		var batches []struct {
			BatchID, Status string
			Users           []struct{ UserUUID string }
		}
		if err := r.doJSON(ctx, c, http.MethodGet, base+"/api/v1/sites/"+h.Site+"/held", "", nil, &batches); err != nil {
			return false, nil
		}
		batchID := ""
		for _, b := range batches {
			if b.Status == string(policy.HeldPending) {
				batchID = b.BatchID
				if len(b.Users) != len(h.Requests) && !checked {
					r.violation("held-batch-wrong", "%s: batch %s holds %d users, the model %d", h.Site, b.BatchID, len(b.Users), len(h.Requests))
				}
				checked = true
			}
		}
		if batchID == "" {
			// Not decided yet, or approved by an attempt whose answer was lost.
			return sent, nil
		}
		now, sent = time.Now(), true
		err := r.doJSON(ctx, c, http.MethodPost, base+"/api/v1/sites/"+h.Site+"/held/"+batchID+"/approve", sess.CSRF, nil, nil)
		return err == nil, nil
	}); err != nil {
		return nil, err
	}
	return r.model.Approve(h, now), nil
}

// waitProjection waits until the policy projection holds every login the model applied.
func (r *run) waitProjection(ctx context.Context) error {
	want := r.model.LastLogins()
	return r.waitFor(ctx, "logins projected", func() (bool, error) {
		got, err := r.lastLogins(ctx, `SELECT user_uuid, last_login_at FROM policy_users WHERE last_login_at IS NOT NULL`)
		if err != nil {
			return false, nil
		}
		for uuid, at := range want {
			if g, ok := got[uuid]; !ok || g.Before(at) {
				return false, nil
			}
		}
		return true, nil
	})
}

func (r *run) waitTick(ctx context.Context, at time.Time) error {
	return r.waitFor(ctx, "tick "+at.Format(time.DateOnly)+" decided", func() (bool, error) {
		var n int
		err := r.db.QueryRow(ctx, `SELECT count(*) FROM policy_sites WHERE last_tick >= $1`, at).Scan(&n)
		return err == nil && n == len(sites), nil
	})
}

// waitActuator waits until the actuator recorded every released request, and checks that
// it retired each (superseded, refused or failed would each be a wrong outcome here).
func (r *run) waitActuator(ctx context.Context, released []Request) error {
	if len(released) == 0 {
		return nil
	}
	ids := make([]string, len(released))
	for i, q := range released {
		ids[i] = q.ID
	}
	outcomes := map[string]string{}
	err := r.waitFor(ctx, fmt.Sprintf("%d deactivations carried out", len(ids)), func() (bool, error) {
		rows, err := r.db.Query(ctx, `SELECT decision_id, outcome FROM actuator_decisions WHERE decision_id = ANY($1)`, ids)
		if err != nil {
			return false, nil
		}
		defer rows.Close()
		for rows.Next() {
			var id, outcome string
			if err := rows.Scan(&id, &outcome); err != nil {
				return false, nil
			}
			outcomes[id] = outcome
		}
		return len(outcomes) == len(ids), nil
	})
	for id, o := range outcomes {
		if o != "deactivated" {
			r.violation("actuator-outcome", "decision %s ended %s, want deactivated", short(id), o)
		}
	}
	return err
}

func (r *run) waitFor(ctx context.Context, what string, ok func() (bool, error)) error {
	deadline := time.Now().Add(barrierLimit)
	for {
		done, err := ok()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting until %s", barrierLimit, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *run) lastLogins(ctx context.Context, query string) (map[string]time.Time, error) {
	rows, err := r.db.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var uuid string
		var at time.Time
		if err := rows.Scan(&uuid, &at); err != nil {
			return nil, err
		}
		out[uuid] = at.UTC()
	}
	return out, rows.Err()
}

// check lets the system settle, reads back what it did and compares it with the model.
func (r *run) check(ctx context.Context) (Result, error) {
	var obs Observed
	var err error
	// Settled: login-ingest has taken everything sent (duplicates and replays included).
	_ = r.waitFor(ctx, "login-ingest drained", func() (bool, error) {
		info, err := r.js.Consumer(ctx, r.ns.StreamAuth(), "login-ingest")
		if err != nil {
			return false, nil
		}
		i, err := info.Info(ctx)
		return err == nil && i.NumPending == 0 && i.NumAckPending == 0, nil
	})
	if obs.StoreLastLogins, err = r.lastLogins(ctx, `SELECT user_uuid, last_login_at FROM last_login`); err != nil {
		return Result{}, err
	}
	if obs.ProjectionLastLogins, err = r.lastLogins(ctx, `SELECT user_uuid, last_login_at FROM policy_users WHERE last_login_at IS NOT NULL`); err != nil {
		return Result{}, err
	}
	for site, base := range r.fakes {
		var log []openmrstest.Retirement
		if err := r.getJSON(ctx, base+"/_fake/retirements", &log); err != nil {
			return Result{}, err
		}
		for _, x := range log {
			obs.Retirements = append(obs.Retirements, RetirementLog{Action: x.Action, UUID: x.UUID, Reason: x.Reason, At: x.At, WasRetired: x.WasRetired, Site: site, By: x.By})
		}
	}
	if err := r.readDecisions(ctx, &obs); err != nil {
		return Result{}, err
	}
	r.mu.Lock()
	obs.Sent = append([]SentLogin(nil), r.sent...)
	obs.Timeline = append([]Mark(nil), r.timeline...)
	found := append([]Violation(nil), r.found...)
	byKind := maps(r.faults)
	r.mu.Unlock()

	r.mu.Lock()
	robs := ReplicaObserved{Rate: r.cfg.ActuatorRate, Window: RateWindow, Bunched: append([]Interval(nil), r.bunched...), By: r.replicaBy,
		Pauses: append([]Pause(nil), r.pauses...)}
	takeovers := append([]time.Duration(nil), r.takeovers...)
	r.mu.Unlock()
	for i, p := range robs.Pauses {
		f, err := os.Open(r.policies[p.Replica].Log)
		if err != nil {
			return Result{}, err
		}
		robs.Pauses[i].Relead, err = LeadingSince(f, p.Continued)
		f.Close()
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", r.policies[p.Replica].Log, err)
		}
	}
	exp := r.model.Expected()
	found = append(found, Check(exp, obs)...)
	found = append(found, CheckReplicas(robs, obs.Retirements)...)
	res := Result{Violations: found, ByKind: byKind, Retired: len(exp.Retired), Warnings: len(exp.Warnings), Logins: int(r.logins.Load()),
		Takeovers: takeovers, MaxInWindow: MaxInWindow(obs.Retirements, RateWindow, robs.Bunched), RateLimit: RateLimit(r.cfg.ActuatorRate, RateWindow)}
	for kind, n := range byKind {
		switch {
		case strings.HasPrefix(kind, "kill-"), kind == "pause-leader":
			res.Kills += n
		case kind == "restart-nats":
			res.Restarts += n
		default:
			res.Faults += n
		}
	}
	for _, p := range append([]*Proc{r.ingest, r.natsP}, r.policies...) {
		_, _, crashes := p.Counts()
		res.Crashes = append(res.Crashes, crashes...)
	}
	return res, nil
}

// readDecisions reads every warning and deactivation request on the decisions stream.
func (r *run) readDecisions(ctx context.Context, obs *Observed) error {
	stream, err := r.js.Stream(ctx, r.ns.StreamDecisions())
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	total := int(info.State.Msgs)
	cons, err := r.js.OrderedConsumer(ctx, r.ns.StreamDecisions(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	for read := 0; read < total; {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			ev, err := events.FromNATS(msg.Headers(), msg.Data())
			if err != nil {
				return err
			}
			d, err := events.Decode(ev)
			if err != nil {
				return err
			}
			switch x := d.(type) {
			case *events.UserWarned:
				obs.Warned = append(obs.Warned, WarnedEvent{ID: ev.ID(), Site: events.Site(ev), UUID: x.UserUUID, LastLoginAt: utc(x.LastLoginAt), DeactivateOn: x.DeactivateOn.UTC(), DaysLeft: x.DaysLeft})
			case *events.DeactivationRequested:
				obs.Requested = append(obs.Requested, RequestedEvent{ID: ev.ID(), Site: events.Site(ev), UUID: x.UserUUID, LastLoginAt: utc(x.LastLoginAt), DecidedAt: x.DecidedAt.UTC()})
			}
		}
		if n == 0 {
			return fmt.Errorf("decisions stream: read %d of %d messages", read, total)
		}
		read += n
	}
	return nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (r *run) getJSON(ctx context.Context, url string, out any) error {
	return r.doJSON(ctx, r.http, http.MethodGet, url, "", nil, out)
}

func (r *run) postJSON(ctx context.Context, url string, in, out any) error {
	return r.doJSON(ctx, r.http, http.MethodPost, url, "", in, out)
}

func (r *run) doJSON(ctx context.Context, c *http.Client, method, url, csrf string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", method, url, resp.Status, b)
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// retry calls try until it reports done, fails for good, or a minute of retries passes.
func retry(ctx context.Context, what string, try func() (bool, error)) error {
	deadline := time.Now().Add(barrierLimit)
	wait := 50 * time.Millisecond
	for {
		done, err := try()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still failing after %s", what, barrierLimit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func envName(site string) string { return strings.ToUpper(strings.ReplaceAll(site, "-", "_")) }

func tokenOf(site string) string { return "chaos-token-" + site }

func schemaOf(url string) string {
	i := strings.Index(url, "search_path=")
	if i < 0 {
		return "public"
	}
	s := url[i+len("search_path="):]
	if j := strings.IndexByte(s, '&'); j >= 0 {
		s = s[:j]
	}
	return s
}

func withApp(url, app string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "application_name=" + app
}

// ignoreUndefined treats "relation does not exist" as not yet: the tables appear when the
// policy process has migrated.
func ignoreUndefined(err error) error {
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		return nil
	}
	var e interface{ SQLState() string }
	if errors.As(err, &e) && e.SQLState() == "42P01" {
		return nil
	}
	return err
}
