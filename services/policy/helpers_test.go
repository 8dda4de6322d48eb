package policy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// t0 is day 0 of every simulation.
var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// day is t0 plus n days (fractions allowed: day(1.5) is noon of day 1).
func day(n float64) time.Time { return t0.Add(time.Duration(n * float64(policy.Day))) }

func ptr(t time.Time) *time.Time { return &t }

// live is the default policy switched on for real.
func live() policy.Policy {
	p := policy.DefaultPolicy()
	p.Enabled, p.DryRun = true, false
	return p
}

func compile(t testing.TB, p policy.Policy) *policy.Rules {
	t.Helper()
	r, err := policy.Compile(p)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return r
}

func nurse() policy.User {
	return policy.User{Site: "clinic-a", UUID: "u-nurse", Username: "nurse", SystemID: "3-4",
		GivenName: "Ada", FamilyName: "Okafor", Roles: []string{"Nurse"}, CreatedAt: day(-400)}
}

// sim carries one user's state across ticks, as the service does between ticks.
type sim struct {
	r        *policy.Rules
	u        policy.User
	ex       []policy.Exemption
	baseline time.Time
	st       policy.State
	last     time.Time
	// logins, if set, are applied when a tick passes them: the user's last login as the
	// projection would hold it at that tick.
	logins []time.Time
	events []policy.Outcome
}

func (s *sim) tick(now time.Time) policy.Outcome {
	if !policy.TickAccepted(s.last, now) {
		return policy.Outcome{Kind: "ignored"}
	}
	s.last = now
	for _, l := range s.logins {
		if !l.After(now) && (s.u.LastLoginAt == nil || l.After(*s.u.LastLoginAt)) {
			s.u.LastLoginAt = ptr(l)
		}
	}
	out, st := s.r.Evaluate(s.u, s.st, s.ex, s.baseline, now)
	s.st = st
	if out.Kind == policy.KindWarn || out.Kind == policy.KindDeactivate {
		s.events = append(s.events, out)
	}
	return out
}

func (s *sim) run(from, to time.Time, every time.Duration) {
	for now := from; !now.After(to); now = now.Add(every) {
		s.tick(now)
	}
}

// story renders events compactly so a failing test shows the whole history.
func story(events []policy.Outcome) string {
	var b strings.Builder
	for _, e := range events {
		at := e.DecidedAt.Sub(t0)
		fmt.Fprintf(&b, "[day %.2f %s", float64(at)/float64(policy.Day), e.Kind)
		if e.Kind == policy.KindWarn {
			fmt.Fprintf(&b, " %dd left=%d", e.Step/policy.Day, e.DaysLeft)
		}
		fmt.Fprintf(&b, " %s on day %.2f]", e.Rule, float64(e.DeactivateOn.Sub(t0))/float64(policy.Day))
		if e.WouldBe {
			b.WriteString("(would-be)")
		}
	}
	return b.String()
}

// ev is an expected event: kind, warning step in days (0 for a deactivation) and when.
type ev struct {
	kind policy.Kind
	step int
	at   time.Time
}

func warn(step int, at time.Time) ev { return ev{policy.KindWarn, step, at} }
func deact(at time.Time) ev          { return ev{policy.KindDeactivate, 0, at} }

func expectEvents(t *testing.T, got []policy.Outcome, want ...ev) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		g := got[i]
		ok = g.Kind == want[i].kind && g.DecidedAt.Equal(want[i].at) && int(g.Step/policy.Day) == want[i].step
	}
	if !ok {
		var w []policy.Outcome
		for _, e := range want {
			w = append(w, policy.Outcome{Kind: e.kind, Step: time.Duration(e.step) * policy.Day, DecidedAt: e.at, DeactivateOn: e.at})
		}
		t.Fatalf("events:\n got  %s\n want %s (deactivate-on ignored)", story(got), story(w))
	}
}
