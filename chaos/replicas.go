package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// Several policy replicas: the checks below hold whatever the oracle says, and concern the
// lease that lets only one replica run the actuator (docs/scale.md "Several policy
// replicas"). Each replica signs in to OpenMRS as its own user, so the fake's log of
// retirements says which replica sent each one.

// Interval is a span of wall time.
type Interval struct{ From, To time.Time }

func (iv Interval) contains(t time.Time) bool { return !t.Before(iv.From) && !t.After(iv.To) }

// Pause is one SIGSTOP and SIGCONT of the replica that led, held longer than the lease.
type Pause struct {
	Replica             int
	Stopped, Continued  time.Time
	Relead              time.Time // the replica's next "leading" after Continued; zero if none
	TakeoverAfterPause  time.Duration
	OtherLedDuringPause bool
}

// ReplicaObserved is what the run saw of the replicas, for CheckReplicas.
type ReplicaObserved struct {
	// Rate is DORMANT_ACTUATOR_RATE: retirements per second and site, for the whole cluster.
	Rate float64
	// Window is the span over which the rate is counted.
	Window time.Duration
	// Bunched are spans in which OpenMRS's arrivals bunch whatever the sender does (the
	// latency fault switched on or off): requests sent at the rate before the switch land
	// together with those sent after it. They are left out of the rate count.
	Bunched []Interval
	// By maps each site's OpenMRS user uuid of a replica to the replica's index.
	By map[string]int
	// Pauses are the leaders paused past their lease.
	Pauses []Pause
}

// ArrivalJitter is how long a request may take from the actuator's rate limiter to the
// fake's log on a loaded machine: the actuator reads the user between the two, and the fake
// stamps arrival under its lock. It is allowed for in RateLimit.
const ArrivalJitter = time.Second

// RateLimit is the most retirements of one site any window may hold from one actuator at
// rate: those the limiter releases in window plus ArrivalJitter, and one for the edges.
func RateLimit(rate float64, window time.Duration) int {
	return int(math.Ceil(rate*(window+ArrivalJitter).Seconds())) + 1
}

// busiest is a site's busiest window: how many retirements, from when, and by whom.
type busiest struct {
	n    int
	from time.Time
	by   map[string]int
}

func busiestWindows(rets []RetirementLog, window time.Duration, bunched []Interval) map[string]busiest {
	bySite := map[string][]RetirementLog{}
next:
	for _, r := range rets {
		if r.Action != "retire" {
			continue
		}
		for _, b := range bunched {
			if b.contains(r.At) {
				continue next
			}
		}
		bySite[r.Site] = append(bySite[r.Site], r)
	}
	out := map[string]busiest{}
	for site, rs := range bySite {
		sort.Slice(rs, func(i, j int) bool { return rs[i].At.Before(rs[j].At) })
		var best busiest
		lo := 0
		for hi := range rs {
			for rs[hi].At.Sub(rs[lo].At) >= window {
				lo++
			}
			if n := hi - lo + 1; n > best.n {
				best = busiest{n: n, from: rs[lo].At, by: map[string]int{}}
				for _, r := range rs[lo : hi+1] {
					best.by[r.By]++
				}
			}
		}
		out[site] = best
	}
	return out
}

// MaxInWindow is, per site, the most retirements OpenMRS logged within any window, outside
// the bunched spans.
func MaxInWindow(rets []RetirementLog, window time.Duration, bunched []Interval) map[string]int {
	out := map[string]int{}
	for site, b := range busiestWindows(rets, window, bunched) {
		out[site] = b.n
	}
	return out
}

// CheckReplicas checks the lease's promises against OpenMRS's log:
//
//   - actuator-rate: no site sees more retirements in any window than one actuator at
//     DORMANT_ACTUATOR_RATE can send: two replicas running the actuator at once send twice that;
//   - paused-leader-acted: a leader paused past its lease sends no retirement after it
//     resumes, until it has won the lease again.
func CheckReplicas(obs ReplicaObserved, rets []RetirementLog) []Violation {
	var vs []Violation
	limit := RateLimit(obs.Rate, obs.Window)
	worst := busiestWindows(rets, obs.Window, obs.Bunched)
	sites := make([]string, 0, len(worst))
	for s := range worst {
		sites = append(sites, s)
	}
	sort.Strings(sites)
	for _, site := range sites {
		if b := worst[site]; b.n > limit {
			senders := map[string]int{}
			for by, n := range b.by {
				name := "an unknown user"
				if k, ok := obs.By[by]; ok {
					name = fmt.Sprintf("policy-%d", k)
				}
				senders[name] += n
			}
			vs = append(vs, Violation{Rule: "actuator-rate", Detail: fmt.Sprintf("%s: OpenMRS saw %d retirements within %s from %s (%v); at %g per second one actuator sends at most %d",
				site, b.n, obs.Window, b.from.Format("15:04:05.000"), senders, obs.Rate, limit)})
		}
	}
	for _, p := range obs.Pauses {
		for _, r := range rets {
			replica, ok := obs.By[r.By]
			if r.Action != "retire" || !ok || replica != p.Replica || !r.At.After(p.Continued) {
				continue
			}
			if p.Relead.IsZero() || r.At.Before(p.Relead) {
				vs = append(vs, Violation{Rule: "paused-leader-acted", Detail: fmt.Sprintf("policy-%d retired %s %s after it resumed from a pause of %s (stopped %s), before it led again",
					p.Replica, short(r.UUID), r.At.Sub(p.Continued).Round(time.Millisecond), p.Continued.Sub(p.Stopped).Round(time.Millisecond), p.Stopped.Format("15:04:05.000"))})
			}
		}
	}
	return vs
}

// LeadingSince returns the first time after t at which a replica's log (zap JSON lines)
// says it won the lease: "leading", or "leading (taken back: ...)".
func LeadingSince(log io.Reader, t time.Time) (time.Time, error) {
	sc := bufio.NewScanner(log)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"leading`) {
			continue
		}
		var e struct {
			TS  string `json:"ts"`
			Msg string `json:"msg"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			continue // a line from before the logger, or cut by a SIGKILL
		}
		if e.Msg != "leading" && !strings.HasPrefix(e.Msg, "leading (") {
			continue
		}
		at, err := time.Parse("2006-01-02T15:04:05.000Z0700", e.TS)
		if err != nil {
			return time.Time{}, fmt.Errorf("log line %q: ts: %w", line, err)
		}
		if at.After(t) {
			return at, nil
		}
	}
	return time.Time{}, sc.Err()
}
