package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// The harness's view of the policy replicas' election: who leads (each replica's
// dormant_leader_is_leader metric), the faults aimed at the leader, and the sampler that
// watches that no two lead at once.

// replicaUser is the OpenMRS user replica k signs in as: the built-in admin for the first.
func replicaUser(k int) string {
	if k == 0 {
		return "admin"
	}
	return fmt.Sprintf("admin-r%d", k)
}

var leaderMetric = `dormant_leader_is_leader{election="` + policysvc.ElectionName + `"}`

// scrapeClient gives up quickly: a paused or dying replica must not hold the sampler up.
var scrapeClient = &http.Client{Timeout: time.Second}

// isLeader reads replica k's is_leader metric; ok is false when the replica did not answer.
func (r *run) isLeader(ctx context.Context, k int) (leading, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.policyURLs[k]+"/metrics", nil)
	if err != nil {
		return false, false
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return false, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, false
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), leaderMetric+" "); found {
			return strings.TrimSpace(v) == "1", true
		}
	}
	// Before the election starts the metric is not there yet: a follower.
	return false, sc.Err() == nil
}

func (r *run) isPaused(k int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paused[k]
}

// findLeader returns the replica that leads, waiting up to two leases for one (a takeover
// may be under way); if none does by then, the first replica.
func (r *run) findLeader(ctx context.Context) int {
	deadline := time.Now().Add(2 * r.cfg.LeaseTTL)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for k := range r.policies {
			if r.isPaused(k) {
				continue
			}
			if leading, _ := r.isLeader(ctx, k); leading {
				return k
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0
}

// follower returns a replica that answers and does not lead (with one replica, that one).
// Which one it is follows from the election, not the seed, so no random draw is needed.
func (r *run) follower(ctx context.Context) int {
	for k := range r.policies {
		if leading, ok := r.isLeader(ctx, k); ok && !leading {
			return k
		}
	}
	return 0
}

// measureTakeover waits until a replica leads again after the leader's loss at since, and
// records how long that took. After a kill any replica may win, the killed one's new process
// included (it campaigns as soon as it is back); a paused one is left out. A run where
// nobody else can lead (one replica) records nothing.
func (r *run) measureTakeover(ctx context.Context, since time.Time) {
	if len(r.policies) < 2 {
		return
	}
	time.Sleep(50 * time.Millisecond) // the killed process's socket closes
	deadline := since.Add(5 * r.cfg.LeaseTTL)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for k := range r.policies {
			if r.isPaused(k) {
				continue
			}
			if leading, _ := r.isLeader(ctx, k); leading {
				r.mu.Lock()
				r.takeovers = append(r.takeovers, time.Since(since))
				r.mu.Unlock()
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.logf("takeover: no replica led within %s of the leader's loss", 5*r.cfg.LeaseTTL)
}

// pauseLeader freezes the leader (SIGSTOP) for its lease and two seconds more, then lets it
// go on (SIGCONT): by then another replica leads, and the resumed one must do nothing
// before it has won the lease again (CheckReplicas, paused-leader-acted).
func (r *run) pauseLeader(ctx context.Context) {
	k := r.findLeader(ctx)
	r.mu.Lock()
	r.paused[k] = true
	r.mu.Unlock()
	measured := make(chan struct{})
	go func() {
		defer close(measured)
		r.measureTakeover(ctx, time.Now())
	}()
	stopped, continued, ok := r.policies[k].Pause(r.cfg.LeaseTTL + 2*time.Second)
	r.mu.Lock()
	r.paused[k] = false
	r.resumed[k] = continued
	if ok {
		r.pauses = append(r.pauses, Pause{Replica: k, Stopped: stopped, Continued: continued})
	}
	r.mu.Unlock()
	<-measured
}

// sampleLeaders reads every replica's is_leader four times a second until ctx ends, and
// reports two replicas leading in two samples running (one sample could straddle a clean
// handover: the old leader read just before it stepped down, the new one just after it
// won). A paused replica, and one for a second after it resumed (its metric still shows
// the lease it lost while frozen), are left out: the lease check, not the metric, is what
// stops its work, and paused-leader-acted checks that.
func (r *run) sampleLeaders(ctx context.Context) {
	if len(r.policies) < 2 {
		return
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	running := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var leaders []string
		for k := range r.policies {
			r.mu.Lock()
			skip := r.paused[k] || time.Since(r.resumed[k]) < time.Second
			r.mu.Unlock()
			if skip {
				continue
			}
			if leading, _ := r.isLeader(ctx, k); leading {
				leaders = append(leaders, r.policies[k].Name)
			}
		}
		if len(leaders) < 2 {
			running = 0
			continue
		}
		running++
		if running == 2 {
			r.violation("two-leaders", "%s all report dormant_leader_is_leader 1 in two samples 250 ms apart (%s)",
				strings.Join(leaders, " and "), time.Now().Format("15:04:05.000"))
		}
	}
}

// stealLease is the election sabotage: until the returned function is called it deletes the
// lease key as soon as anyone writes it, as an outside writer of the bucket would (nats kv
// del). A leader only learns that at its next renewal, which then fails; it steps down and,
// the key being absent, takes it again at once. So both replicas lead, and run the
// actuator, nearly all the time. Nothing in dormant's configuration can split the election
// from the streams it guards (the lease bucket is named after DORMANT_SUBJECT_ROOT, which
// names every stream and consumer too), hence an outside writer.
func (r *run) stealLease(ctx context.Context) (stop func()) {
	tctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for tctx.Err() == nil {
			r.deleteEveryLease(tctx)
			select {
			case <-tctx.Done():
			case <-time.After(100 * time.Millisecond): // NATS restarted under the watch
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (r *run) deleteEveryLease(ctx context.Context) {
	kv, err := r.js.KeyValue(ctx, policysvc.LeaseBucket(r.ns))
	if err != nil {
		return
	}
	w, err := kv.Watch(ctx, policysvc.ElectionName)
	if err != nil {
		return
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue // the end of the initial values, or our own delete
			}
			if kv.Delete(ctx, policysvc.ElectionName, jetstream.LastRevision(e.Revision())) == nil {
				r.count("lease-stolen")
			}
		}
	}
}

// releasedCount is how many deactivation requests a tick's results release, at once or
// held for an approval.
func releasedCount(results []TickResult) int {
	n := 0
	for _, res := range results {
		n += len(res.Released)
		if res.Held != nil {
			n += len(res.Held.Requests)
		}
	}
	return n
}
