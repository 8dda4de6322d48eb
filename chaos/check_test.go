package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// perfectRun plays a model's script with a flawless "system": every login stored, every
// warning and request emitted once, every release retired at once. It returns the model's
// expectation and the observation such a system gives.
func perfectRun(t *testing.T, pol policy.Policy, days int) (*Model, Expected, Observed) {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m, err := newModel(Population{Seed: 7, Sites: []string{"s1", "s2"}, UsersPerSite: 120, Start: start}, pol)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m.People {
		m.Bind(p.Site, p.Username, fmt.Sprintf("00000000-0000-4000-8000-%012d", i), fmt.Sprintf("%d-0", i))
	}
	var obs Observed
	wall := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	prev := start.Add(-Day)
	for day := 1; day <= days; day++ {
		at := prev.Add(Day)
		logins := m.DayLogins(day, prev, at)
		m.Apply(logins)
		for _, l := range logins {
			obs.Sent = append(obs.Sent, SentLogin{UUID: l.UUID, OccurredAt: l.At, SentAt: wall})
		}
		if day%5 == 3 {
			for _, site := range m.Sites {
				if pending := m.Pending(site); len(pending) > 0 {
					m.Exempt(pending[0], at.Add(-time.Hour), nil, false)
				}
			}
		}
		wall = wall.Add(time.Second)
		obs.Timeline = append(obs.Timeline, Mark{Wall: wall, Sim: at})
		for _, res := range m.Tick(at) {
			released := res.Released
			if res.Held != nil {
				released = m.Approve(res.Held, at)
			}
			for _, r := range released {
				obs.Retirements = append(obs.Retirements, RetirementLog{Action: "retire", UUID: r.UUID, At: wall.Add(time.Millisecond)})
			}
		}
		wall = wall.Add(time.Second)
		prev = at
	}
	exp := m.Expected()
	obs.StoreLastLogins, obs.ProjectionLastLogins = maps(exp.LastLogins), maps(exp.LastLogins)
	for id, w := range exp.Warnings {
		p := m.Person(w.UUID)
		obs.Warned = append(obs.Warned, WarnedEvent{ID: id, Site: w.Site, UUID: w.UUID, LastLoginAt: lastLoginBefore(obs.Sent, w.UUID, w.At),
			DeactivateOn: w.DeactivateOn, DaysLeft: int((w.DeactivateOn.Sub(w.At) + Day - 1) / Day)})
		_ = p
	}
	for id, r := range exp.Requests {
		obs.Requested = append(obs.Requested, RequestedEvent{ID: id, Site: r.Site, UUID: r.UUID, LastLoginAt: r.LastLoginAt, DecidedAt: r.DecidedAt})
	}
	return m, exp, obs
}

func lastLoginBefore(sent []SentLogin, uuid string, at time.Time) *time.Time {
	var last *time.Time
	for _, s := range sent {
		if s.UUID == uuid && s.OccurredAt.Before(at) && (last == nil || s.OccurredAt.After(*last)) {
			o := s.OccurredAt
			last = &o
		}
	}
	return last
}

func defaultPolicy(t *testing.T) policy.Policy {
	t.Helper()
	l, err := policy.LoadYAML([]byte(PolicyBlock), nil)
	if err != nil {
		t.Fatal(err)
	}
	return l.Policy
}

func rules(vs []Violation) string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vs {
		if !seen[v.Rule] {
			seen[v.Rule] = true
			out = append(out, v.Rule)
		}
	}
	return strings.Join(out, ",")
}

// The oracle of a flawless run finds nothing, and the script exercises what the suite claims:
// warnings, retirements, exemptions, comebacks after a warning.
func TestCheckPassesAFlawlessRun(t *testing.T) {
	_, exp, obs := perfectRun(t, defaultPolicy(t), 60)
	if vs := Check(exp, obs); len(vs) != 0 {
		t.Fatalf("violations in a flawless run: %v", vs)
	}
	if len(exp.Retired) < 20 || len(exp.Warnings) < 60 || len(exp.Exemptions) < 10 {
		t.Fatalf("the script exercises too little: %d retired, %d warnings, %d exemptions", len(exp.Retired), len(exp.Warnings), len(exp.Exemptions))
	}
	comebacks := 0
	for uuid := range warnedUsers(exp) {
		if _, retired := exp.Retired[uuid]; !retired {
			comebacks++
		}
	}
	if comebacks == 0 {
		t.Fatal("nobody warned was saved by a login or an exemption")
	}
}

func warnedUsers(exp Expected) map[string]bool {
	out := map[string]bool{}
	for _, w := range exp.Warnings {
		out[w.UUID] = true
	}
	return out
}

// Each kind of failure the suite looks for makes the checker fail, with the rule named.
func TestCheckCatchesEveryViolation(t *testing.T) {
	m, exp, obs := perfectRun(t, defaultPolicy(t), 60)
	var active, retired string
	for uuid, f := range exp.People {
		if _, ok := exp.Retired[uuid]; !ok && !f.Protected && active == "" {
			if _, logged := exp.LastLogins[uuid]; logged {
				active = uuid
			}
		}
	}
	for uuid := range exp.Retired {
		if !exp.People[uuid].Demo && (retired == "" || uuid < retired) {
			retired = uuid
		}
	}
	_ = m
	cases := []struct {
		name   string
		mutate func(*Expected, *Observed)
		want   string
	}{
		{"a login missing from the store", func(e *Expected, o *Observed) { delete(o.StoreLastLogins, active) }, "login-lost"},
		{"a last login moved back by a replay", func(e *Expected, o *Observed) {
			o.ProjectionLastLogins[active] = o.ProjectionLastLogins[active].Add(-Day)
		}, "login-wrong"},
		{"a failure counted as a login", func(e *Expected, o *Observed) {
			for uuid, f := range e.People {
				if _, ok := e.LastLogins[uuid]; !ok && f.Site != "" {
					o.StoreLastLogins[uuid] = time.Now()
					return
				}
			}
		}, "login-invented"},
		{"an active user retired", func(e *Expected, o *Observed) {
			o.Retirements = append(o.Retirements, RetirementLog{Action: "retire", UUID: active, At: o.Timeline[len(o.Timeline)-1].Wall})
		}, "wrongful-retirement"},
		{"a retirement lost", func(e *Expected, o *Observed) {
			var keep []RetirementLog
			for _, r := range o.Retirements {
				if r.UUID != retired {
					keep = append(keep, r)
				}
			}
			o.Retirements = keep
		}, "missed-retirement"},
		{"a user retired twice", func(e *Expected, o *Observed) {
			for _, r := range o.Retirements {
				if r.UUID == retired {
					o.Retirements = append(o.Retirements, r)
					return
				}
			}
		}, "retired-twice"},
		{"a purge", func(e *Expected, o *Observed) {
			o.Retirements = append(o.Retirements, RetirementLog{Action: "purge", UUID: retired, At: time.Now()})
		}, "unexpected-purge"},
		{"a retirement while exempt", func(e *Expected, o *Observed) {
			r := e.Retired[retired]
			e.Exemptions = append(e.Exemptions, Exemption{Site: r.Site, UUID: retired, CreatedAt: r.DecidedAt.Add(-Day)})
		}, "retired-while-exempt"},
		{"a retirement after a cancelling login", func(e *Expected, o *Observed) {
			r := e.Retired[retired]
			o.Sent = append(o.Sent, SentLogin{UUID: retired, OccurredAt: r.DecidedAt.Add(-time.Hour), SentAt: time.Time{}})
		}, "retired-after-login"},
		{"a retirement before the period is over", func(e *Expected, o *Observed) {
			for i := range o.Requested {
				if o.Requested[i].UUID == retired {
					recent := o.Requested[i].DecidedAt.Add(-5 * Day)
					o.Requested[i].LastLoginAt = &recent
				}
			}
		}, "retired-too-soon"},
		{"a retirement without a warning", func(e *Expected, o *Observed) {
			var keep []WarnedEvent
			for _, w := range o.Warned {
				if w.UUID != retired {
					keep = append(keep, w)
				}
			}
			o.Warned = keep
		}, "retired-unwarned"},
		{"a protected user retired", func(e *Expected, o *Observed) {
			f := e.People[retired]
			f.Protected = true
			e.People[retired] = f
		}, "protected-retired"},
		{"a warning sent twice", func(e *Expected, o *Observed) { o.Warned = append(o.Warned, o.Warned[0]) }, "warning-duplicated"},
		{"a warning step sent again under a new id", func(e *Expected, o *Observed) {
			w := o.Warned[0]
			w.ID = "another-id"
			o.Warned = append(o.Warned, w)
		}, "warning-duplicated"},
		{"a warning lost", func(e *Expected, o *Observed) { o.Warned = o.Warned[1:] }, "warning-missing"},
		{"a request published twice", func(e *Expected, o *Observed) { o.Requested = append(o.Requested, o.Requested[0]) }, "request-duplicated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, o := cloneRun(exp, obs)
			tc.mutate(&e, &o)
			vs := Check(e, o)
			if !strings.Contains(","+rules(vs)+",", ","+tc.want+",") {
				t.Fatalf("want a %s violation, got %v", tc.want, vs)
			}
		})
	}
}

// A run decided under another policy than the oracle's (a deliberately wrong policy: 25 days
// instead of 30) is caught: its retirements, warnings and requests are not the oracle's.
func TestCheckCatchesAWrongPolicyRun(t *testing.T) {
	_, exp, _ := perfectRun(t, defaultPolicy(t), 60)
	wrong := defaultPolicy(t)
	wrong.InactiveAfter = 25 * Day
	_, _, obs := perfectRun(t, wrong, 60)
	vs := Check(exp, obs)
	for _, rule := range []string{"wrongful-retirement", "retired-too-soon", "warning-unexpected", "request-unexpected"} {
		if !strings.Contains(","+rules(vs)+",", ","+rule+",") {
			t.Errorf("a 25-day policy run against the 30-day oracle: no %s violation (got %s)", rule, rules(vs))
		}
	}
}

func cloneRun(e Expected, o Observed) (Expected, Observed) {
	e.LastLogins, e.Warnings, e.Requests, e.Retired, e.People = maps(e.LastLogins), maps(e.Warnings), maps(e.Requests), maps(e.Retired), maps(e.People)
	e.Exemptions = append([]Exemption(nil), e.Exemptions...)
	o.StoreLastLogins, o.ProjectionLastLogins = maps(o.StoreLastLogins), maps(o.ProjectionLastLogins)
	o.Retirements = append([]RetirementLog(nil), o.Retirements...)
	o.Warned = append([]WarnedEvent(nil), o.Warned...)
	o.Requested = append([]RequestedEvent(nil), o.Requested...)
	o.Sent = append([]SentLogin(nil), o.Sent...)
	return e, o
}
