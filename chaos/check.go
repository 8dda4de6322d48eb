package chaos

import (
	"fmt"
	"sort"
	"time"
)

// Expected is the oracle's account of a run.
type Expected struct {
	// LastLogins: uuid → the latest successful login the script sent.
	LastLogins map[string]time.Time
	// Warnings: warning id → the warning, each to be on the stream exactly once.
	Warnings map[string]Warning
	// Requests: decision id → the deactivation requested (released by a tick or an approval).
	Requests map[string]Request
	// Retired: uuid → the request that retires them; nobody else may be retired.
	Retired    map[string]Request
	Exemptions []Exemption
	// InactiveAfter and DemoMaxAge let the checker judge a retirement without the model.
	InactiveAfter, DemoMaxAge time.Duration
	People                    map[string]PersonFacts
}

// PersonFacts are what the model-free checks need of a person.
type PersonFacts struct {
	Site, Username string
	Created        time.Time
	Baseline       time.Time
	Demo           bool
	// Protected: holds an exempt role, is never_touch, or was retired before dormant.
	Protected bool
}

// Observed is what the run's system did, read back from its stores, its streams and OpenMRS.
type Observed struct {
	// StoreLastLogins: login-ingest's last_login table, uuid → last_login_at.
	StoreLastLogins map[string]time.Time
	// ProjectionLastLogins: the policy projection's last_login_at, uuid → time.
	ProjectionLastLogins map[string]time.Time
	// Retirements: OpenMRS's log of retire/unretire/purge requests, both sites.
	Retirements []RetirementLog
	// Warned and Requested: every message on the decisions stream of those types.
	Warned    []WarnedEvent
	Requested []RequestedEvent
	// Sent: every successful login the script sent, with the wall time it was accepted.
	Sent []SentLogin
	// Timeline maps wall time to simulated time: each mark is a tick published.
	Timeline []Mark
}

// RetirementLog is one request OpenMRS received (openmrstest.Retirement).
type RetirementLog struct {
	Action, UUID, Reason string
	Site                 string
	By                   string // the OpenMRS user who sent it: which policy replica
	At                   time.Time
	WasRetired           bool
}

// WarnedEvent is a dormant.user.warned message read back from the stream.
type WarnedEvent struct {
	ID, Site, UUID string
	LastLoginAt    *time.Time
	DeactivateOn   time.Time
	DaysLeft       int
}

// RequestedEvent is a dormant.user.deactivation.requested message read back from the stream.
type RequestedEvent struct {
	ID, Site, UUID string
	LastLoginAt    *time.Time
	DecidedAt      time.Time
}

// SentLogin is a successful login accepted by the intake or JetStream at wall time SentAt.
type SentLogin struct {
	UUID       string
	OccurredAt time.Time
	SentAt     time.Time
}

// Mark says that from wall time Wall on, the simulated time was Sim.
type Mark struct {
	Wall, Sim time.Time
}

// Violation is one broken guarantee.
type Violation struct {
	Rule, Detail string
}

func (v Violation) String() string { return v.Rule + ": " + v.Detail }

// Check compares a run with its oracle and with the invariants that need no oracle. It lists
// every violation found, sorted; none means the run kept every guarantee.
func Check(exp Expected, obs Observed) []Violation {
	var vs []Violation
	add := func(rule, format string, args ...any) {
		vs = append(vs, Violation{Rule: rule, Detail: fmt.Sprintf(format, args...)})
	}

	// Every successful login is in login-ingest's store and the policy projection, exactly
	// as the latest one sent: nothing lost, nothing moved by duplicates, replays or order.
	for name, got := range map[string]map[string]time.Time{"last-login store": obs.StoreLastLogins, "policy projection": obs.ProjectionLastLogins} {
		for uuid, want := range exp.LastLogins {
			if g, ok := got[uuid]; !ok {
				add("login-lost", "%s has no last login of %s (want %s)", name, who(exp, uuid), want.Format(time.RFC3339))
			} else if !g.Equal(want) {
				add("login-wrong", "%s has %s for %s, want %s", name, g.Format(time.RFC3339), who(exp, uuid), want.Format(time.RFC3339))
			}
		}
		for uuid, g := range got {
			if _, ok := exp.LastLogins[uuid]; !ok {
				if _, known := exp.People[uuid]; known {
					add("login-invented", "%s has a last login %s for %s, who never logged in", name, g.Format(time.RFC3339), who(exp, uuid))
				}
			}
		}
	}

	// Retired in OpenMRS: exactly the oracle's set, each once, never purged or unretired.
	retires := map[string][]RetirementLog{}
	for _, r := range obs.Retirements {
		switch r.Action {
		case "retire":
			retires[r.UUID] = append(retires[r.UUID], r)
		default:
			add("unexpected-"+r.Action, "OpenMRS got %s of %s at %s", r.Action, who(exp, r.UUID), r.At.Format(time.RFC3339))
		}
	}
	for uuid, rs := range retires {
		if len(rs) > 1 {
			add("retired-twice", "%s retired %d times", who(exp, uuid), len(rs))
		}
		if _, ok := exp.Retired[uuid]; !ok {
			add("wrongful-retirement", "%s was retired at %s; the policy never made them due", who(exp, uuid), rs[0].At.Format(time.RFC3339))
		}
	}
	for uuid, r := range exp.Retired {
		if _, ok := retires[uuid]; !ok {
			add("missed-retirement", "%s is due (decision %s at %s) and was not retired", who(exp, uuid), short(r.ID), r.DecidedAt.Format(time.DateOnly))
		}
	}

	// Model-free: whoever was retired was protected by nothing, inactive long enough, not
	// exempt at the time, had not logged in since the decision's last login, and was warned.
	requests := map[string][]RequestedEvent{}
	for _, r := range obs.Requested {
		requests[r.UUID] = append(requests[r.UUID], r)
	}
	warned := map[string][]WarnedEvent{}
	for _, w := range obs.Warned {
		warned[w.UUID] = append(warned[w.UUID], w)
	}
	for uuid, rs := range retires {
		first := rs[0]
		sim := simAt(obs.Timeline, first.At)
		facts, known := exp.People[uuid]
		if known && facts.Protected {
			add("protected-retired", "%s is protected (exempt role, never_touch or retired before) and was retired", who(exp, uuid))
		}
		for _, e := range exp.Exemptions {
			if e.UUID == uuid && !sim.Before(e.CreatedAt) && (e.Until == nil || sim.Before(*e.Until)) {
				add("retired-while-exempt", "%s retired at simulated %s during an exemption from %s", who(exp, uuid), sim.Format(time.RFC3339), e.CreatedAt.Format(time.RFC3339))
			}
		}
		reqs := requests[uuid]
		if len(reqs) == 0 {
			add("retired-unrequested", "%s retired without a deactivation request on the stream", who(exp, uuid))
			continue
		}
		req := reqs[len(reqs)-1]
		// Demo accounts retire demo_max_age after creation whether or not they log in: for
		// them a login cancels nothing and does not start a cycle.
		demo := known && facts.Demo
		for _, l := range obs.Sent {
			if demo {
				break
			}
			if l.UUID == uuid && !l.SentAt.After(first.At) && (req.LastLoginAt == nil || l.OccurredAt.After(*req.LastLoginAt)) {
				add("retired-after-login", "%s retired at %s after a login at %s (accepted %s) cancelled the decision of %s",
					who(exp, uuid), first.At.Format(time.RFC3339), l.OccurredAt.Format(time.RFC3339), l.SentAt.Format(time.RFC3339), req.DecidedAt.Format(time.DateOnly))
				break
			}
		}
		if known {
			activity := facts.Created
			period := exp.DemoMaxAge
			if !facts.Demo {
				period = exp.InactiveAfter
				activity = later(facts.Created, facts.Baseline)
				if req.LastLoginAt != nil {
					activity = *req.LastLoginAt
				}
			}
			if req.DecidedAt.Sub(activity) < period {
				add("retired-too-soon", "%s decided at %s, only %s after activity at %s (period %s)", who(exp, uuid),
					req.DecidedAt.Format(time.RFC3339), req.DecidedAt.Sub(activity), activity.Format(time.RFC3339), period)
			}
		}
		warnedThisCycle := false
		for _, w := range warned[uuid] {
			if (demo || sameTime(w.LastLoginAt, req.LastLoginAt)) && !w.DeactivateOn.After(req.DecidedAt) {
				warnedThisCycle = true
			}
		}
		if !warnedThisCycle {
			add("retired-unwarned", "%s retired without a warning in the cycle of the decision at %s", who(exp, uuid), req.DecidedAt.Format(time.DateOnly))
		}
	}

	// Every warning exactly once: no id twice on the stream, no step twice under new ids,
	// and the set of ids is the oracle's.
	seen := map[string]int{}
	steps := map[string]int{}
	for _, w := range obs.Warned {
		seen[w.ID]++
		steps[fmt.Sprintf("%s|%s|%s|%d", w.UUID, fmtTime(w.LastLoginAt), w.DeactivateOn.Format(time.RFC3339), w.DaysLeft)]++
	}
	for id, n := range seen {
		if n > 1 {
			add("warning-duplicated", "warning %s is on the stream %d times", short(id), n)
		}
		if _, ok := exp.Warnings[id]; !ok {
			add("warning-unexpected", "warning %s was sent; the policy never called for it", short(id))
		}
	}
	for k, n := range steps {
		if n > 1 {
			add("warning-duplicated", "the same warning step (%s) went out %d times under different ids", k, n)
		}
	}
	for id, w := range exp.Warnings {
		if seen[id] == 0 {
			add("warning-missing", "warning %s of %s (step %s, tick %s) never went out", short(id), who(exp, w.UUID), w.Step, w.At.Format(time.DateOnly))
		}
	}

	// Every deactivation requested exactly once, and only those the oracle requested.
	reqSeen := map[string]int{}
	for _, r := range obs.Requested {
		reqSeen[r.ID]++
	}
	for id, n := range reqSeen {
		if n > 1 {
			add("request-duplicated", "deactivation request %s is on the stream %d times", short(id), n)
		}
		if _, ok := exp.Requests[id]; !ok {
			add("request-unexpected", "deactivation request %s was published; the policy never called for it", short(id))
		}
	}
	for id, r := range exp.Requests {
		if reqSeen[id] == 0 {
			add("request-missing", "deactivation request %s of %s (tick %s) never went out", short(id), who(exp, r.UUID), r.DecidedAt.Format(time.DateOnly))
		}
	}

	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Rule != vs[j].Rule {
			return vs[i].Rule < vs[j].Rule
		}
		return vs[i].Detail < vs[j].Detail
	})
	return vs
}

// simAt is the simulated time at wall time w: the last mark at or before it.
func simAt(timeline []Mark, w time.Time) time.Time {
	var sim time.Time
	for _, m := range timeline {
		if m.Wall.After(w) {
			break
		}
		sim = m.Sim
	}
	return sim
}

func who(exp Expected, uuid string) string {
	if p, ok := exp.People[uuid]; ok {
		return p.Username + "@" + p.Site
	}
	return uuid
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func sameTime(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
