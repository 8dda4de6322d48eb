package actuator

import (
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/policy"
)

func TestRetiresWithTheDecisionsReasonAndAnnouncesIt(t *testing.T) {
	w := newWorld(t)
	last := time.Now().UTC().Add(-100 * 24 * time.Hour)
	id := w.user(openmrstest.UserSpec{Username: "nurse1", Roles: []string{"Nurse"}}, last)
	w.start(nil)
	w.request(events.DeactivationRequested{DecisionID: "d-retire", UserUUID: id, Username: "nurse1", Reason: "dormant: no login since March", LastLoginAt: &last})

	if r := w.outcome("d-retire"); r.Outcome != OutcomeDeactivated {
		t.Fatalf("outcome = %s (%s), want deactivated", r.Outcome, r.Detail)
	}
	u, _ := w.fake.User(id)
	if !u.Retired || u.RetireReason != "dormant: no login since March" {
		t.Fatalf("OpenMRS user retired=%v reason=%q", u.Retired, u.RetireReason)
	}
	for _, r := range w.fake.Retirements() {
		if r.Action == "purge" {
			t.Fatal("the actuator purged a user")
		}
	}
	evs := w.published(w.ns.StreamActions(), w.ns.Deactivated(site))
	if len(evs) != 1 {
		t.Fatalf("%d deactivated events, want 1", len(evs))
	}
	d := decode[*events.UserDeactivated](t, evs[0])
	if evs[0].ID() != events.DerivedID("deactivated", "d-retire") || d.DecisionID != "d-retire" || d.UserUUID != id || d.Username != "nurse1" || d.Reason != "dormant: no login since March" {
		t.Fatalf("event %s: %+v", evs[0].ID(), d)
	}
}

func TestOutcomes(t *testing.T) {
	old := time.Now().UTC().Add(-100 * 24 * time.Hour)
	decided := time.Now().UTC().Add(-time.Hour)
	tests := []struct {
		name string
		// seed returns the user uuid and the request for it
		seed        func(w *world) events.DeactivationRequested
		want        Outcome
		wantRetired bool
		wantRetires int // retire requests that reach OpenMRS
		detail      string
	}{
		{"an already retired user is done, and keeps their first reason", func(w *world) events.DeactivationRequested {
			id := w.user(openmrstest.UserSpec{Username: "gone", Retired: true, RetireReason: "left the clinic"}, old)
			return events.DeactivationRequested{UserUUID: id, Username: "gone", LastLoginAt: &old}
		}, OutcomeDeactivated, true, 0, "already retired in OpenMRS: left the clinic"},
		{"a login after the decision supersedes it", func(w *world) events.DeactivationRequested {
			id := w.user(openmrstest.UserSpec{Username: "back"}, decided.Add(time.Minute))
			return events.DeactivationRequested{UserUUID: id, Username: "back", LastLoginAt: &old, DecidedAt: decided}
		}, OutcomeSuperseded, false, 0, "after the decision"},
		{"a login the decision did not see supersedes it", func(w *world) events.DeactivationRequested {
			id := w.user(openmrstest.UserSpec{Username: "seen"}, old.Add(time.Hour))
			return events.DeactivationRequested{UserUUID: id, Username: "seen", LastLoginAt: &old, DecidedAt: decided}
		}, OutcomeSuperseded, false, 0, "after the last login the decision saw"},
		{"a first login supersedes a decision that saw none", func(w *world) events.DeactivationRequested {
			id := w.user(openmrstest.UserSpec{Username: "first"}, old)
			return events.DeactivationRequested{UserUUID: id, Username: "first", DecidedAt: decided}
		}, OutcomeSuperseded, false, 0, "saw no login"},
		{"a dry-run decision is recorded as would-be and not acted on", func(w *world) events.DeactivationRequested {
			id := w.user(openmrstest.UserSpec{Username: "dry"}, old)
			return events.DeactivationRequested{UserUUID: id, Username: "dry", LastLoginAt: &old, DryRun: true}
		}, OutcomeWouldBe, false, 0, "dry run"},
		{"5xx then success retires", func(w *world) events.DeactivationRequested {
			id := w.user(openmrstest.UserSpec{Username: "flaky"}, old)
			w.fake.InjectFault(openmrstest.Fault{Method: http.MethodDelete, PathPrefix: "/user", Count: 4, Status: http.StatusServiceUnavailable})
			return events.DeactivationRequested{UserUUID: id, Username: "flaky", LastLoginAt: &old}
		}, OutcomeDeactivated, true, 1, "retired"},
		{"a 4xx fails at once", func(w *world) events.DeactivationRequested {
			id := w.user(openmrstest.UserSpec{Username: "refusedbyopenmrs"}, old)
			w.fake.InjectFault(openmrstest.Fault{Method: http.MethodDelete, PathPrefix: "/user", Count: -1, Status: http.StatusBadRequest})
			return events.DeactivationRequested{UserUUID: id, Username: "refusedbyopenmrs", LastLoginAt: &old}
		}, OutcomeFailed, false, 0, "400"},
		{"an unknown user fails at once", func(w *world) events.DeactivationRequested {
			return events.DeactivationRequested{UserUUID: "0b7c43a2-6f57-4f60-9a2e-1f1d0c1a9e77", Username: "ghost", LastLoginAt: &old}
		}, OutcomeFailed, false, 0, "404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			req := tc.seed(w)
			req.DecisionID = "d-" + strings.ReplaceAll(tc.name, " ", "-")
			w.start(nil)
			w.request(req)
			r := w.outcome(req.DecisionID)
			if r.Outcome != tc.want || !strings.Contains(r.Detail, tc.detail) {
				t.Fatalf("outcome = %s (%q), want %s mentioning %q", r.Outcome, r.Detail, tc.want, tc.detail)
			}
			if u, ok := w.fake.User(req.UserUUID); ok && u.Retired != tc.wantRetired {
				t.Fatalf("retired = %v, want %v", u.Retired, tc.wantRetired)
			}
			if n := w.retires(req.UserUUID); n != tc.wantRetires {
				t.Fatalf("%d retire requests reached OpenMRS, want %d", n, tc.wantRetires)
			}
			deactivated := w.published(w.ns.StreamActions(), w.ns.Deactivated(site))
			failed := w.published(w.ns.StreamActions(), w.ns.DeactivationFailed(site))
			switch tc.want {
			case OutcomeDeactivated:
				if len(deactivated) != 1 || len(failed) != 0 {
					t.Fatalf("%d deactivated and %d failed events, want 1 and 0", len(deactivated), len(failed))
				}
			case OutcomeFailed:
				if len(deactivated) != 0 || len(failed) != 1 {
					t.Fatalf("%d deactivated and %d failed events, want 0 and 1", len(deactivated), len(failed))
				}
				f := decode[*events.DeactivationFailed](t, failed[0])
				if f.Retryable || f.Attempts != 1 || f.DecisionID != req.DecisionID || !strings.Contains(f.Error, tc.detail) {
					t.Fatalf("failed event %+v: want not retryable, 1 attempt, error mentioning %q", f, tc.detail)
				}
			default:
				if len(deactivated)+len(failed) != 0 {
					t.Fatalf("%d deactivated and %d failed events, want none", len(deactivated), len(failed))
				}
			}
		})
	}
}

func TestGivesUpOnAPersistent5xxAfterTheLastAttempt(t *testing.T) {
	w := newWorld(t)
	old := time.Now().UTC().Add(-100 * 24 * time.Hour)
	id := w.user(openmrstest.UserSpec{Username: "down"}, old)
	w.fake.InjectFault(openmrstest.Fault{Method: http.MethodDelete, PathPrefix: "/user", Count: -1, Status: http.StatusBadGateway})
	w.start(nil)
	w.request(events.DeactivationRequested{DecisionID: "d-down", UserUUID: id, Username: "down", LastLoginAt: &old})
	if r := w.outcome("d-down"); r.Outcome != OutcomeFailed {
		t.Fatalf("outcome = %s, want failed", r.Outcome)
	}
	failed := w.published(w.ns.StreamActions(), w.ns.DeactivationFailed(site))
	if len(failed) != 1 {
		t.Fatalf("%d failed events, want 1", len(failed))
	}
	if f := decode[*events.DeactivationFailed](t, failed[0]); !f.Retryable || f.Attempts != w.opts.MaxAttempts {
		t.Fatalf("failed event %+v: want retryable after %d attempts", f, w.opts.MaxAttempts)
	}
	// Each attempt's DELETE is retried by the client too (MaxRetries 2: 3 tries).
	if got, want := w.fake.Requests()["DELETE /user/{uuid}"], 3*w.opts.MaxAttempts; got != want {
		t.Fatalf("%d DELETE requests, want %d (client retries x actuator attempts)", got, want)
	}
}

// A crash after OpenMRS retired the user (or after the event was published) but before the
// ack redelivers the request; the second attempt must find the user retired, not retire again,
// and leave exactly one event on the stream.
func TestCrashBetweenCallAndAck(t *testing.T) {
	for _, stage := range []string{"after-retire", "after-publish"} {
		t.Run(stage, func(t *testing.T) {
			w := newWorld(t)
			old := time.Now().UTC().Add(-100 * 24 * time.Hour)
			id := w.user(openmrstest.UserSpec{Username: "crash"}, old)
			var crashed atomic.Bool
			w.start(func(s string) {
				if s == stage && crashed.CompareAndSwap(false, true) {
					// The worker stops dead: no publish, record, ack or nak, as in a crash.
					runtime.Goexit()
				}
			})
			w.request(events.DeactivationRequested{DecisionID: "d-crash", UserUUID: id, Username: "crash", Reason: "dormant: inactive", LastLoginAt: &old})
			r := w.outcome("d-crash")
			if !crashed.Load() || r.Outcome != OutcomeDeactivated {
				t.Fatalf("crashed=%v outcome=%s", crashed.Load(), r.Outcome)
			}
			if n := w.retires(id); n != 1 {
				t.Fatalf("%d retire requests reached OpenMRS, want 1", n)
			}
			if u, _ := w.fake.User(id); u.RetireReason != "dormant: inactive" {
				t.Fatalf("retire reason %q was overwritten", u.RetireReason)
			}
			if evs := w.published(w.ns.StreamActions(), w.ns.Deactivated(site)); len(evs) != 1 {
				t.Fatalf("%d deactivated events, want exactly 1", len(evs))
			}
		})
	}
}

func TestRefusesProtectedAccountsWhateverTheEventSays(t *testing.T) {
	old := time.Now().UTC().Add(-100 * 24 * time.Hour)
	tests := []struct {
		name string
		seed func(w *world) events.DeactivationRequested
		why  string
	}{
		{"the acting user", func(w *world) events.DeactivationRequested {
			return events.DeactivationRequested{UserUUID: w.fake.UserUUID("dormant"), Username: "dormant"}
		}, "acts as"},
		{"admin, named by uuid only and given another name", func(w *world) events.DeactivationRequested {
			return events.DeactivationRequested{UserUUID: w.fake.UserUUID("admin"), Username: "someone-else"}
		}, "system account"},
		{"daemon", func(w *world) events.DeactivationRequested {
			id := w.user(openmrstest.UserSpec{Username: "daemon"}, old)
			return events.DeactivationRequested{UserUUID: id, Username: "daemon"}
		}, "system account"},
		{"an exempt role OpenMRS knows of but the projection does not", func(w *world) events.DeactivationRequested {
			id := w.fake.AddUser(openmrstest.UserSpec{Username: "devops", Roles: []string{"System Developer"}})
			return events.DeactivationRequested{UserUUID: id, Username: "devops"}
		}, "exempt role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			req := tc.seed(w)
			req.DecisionID = "d-refuse"
			req.LastLoginAt = &old
			w.start(nil)
			w.request(req)
			r := w.outcome("d-refuse")
			if r.Outcome != OutcomeRefused || !strings.Contains(r.Detail, tc.why) {
				t.Fatalf("outcome = %s (%q), want refused because %q", r.Outcome, r.Detail, tc.why)
			}
			if u, _ := w.fake.User(req.UserUUID); u.Retired {
				t.Fatal("a protected account was retired")
			}
			alerts := w.published(w.ns.StreamSecurity(), w.ns.Security(site))
			if len(alerts) != 1 {
				t.Fatalf("%d security alerts, want 1", len(alerts))
			}
			a := decode[*events.SecurityAlert](t, alerts[0])
			if a.Kind != KindRefusedDeactivation || a.UserUUID != req.UserUUID || !strings.Contains(a.Detail, "d-refuse") {
				t.Fatalf("alert %+v", a)
			}
			if evs := w.published(w.ns.StreamActions(), w.ns.Deactivated(site)); len(evs) != 0 {
				t.Fatalf("%d deactivated events for a refused request", len(evs))
			}
		})
	}
}

func TestGuard(t *testing.T) {
	g := GuardFor("dormant-bot", policy.Policy{NeverTouch: []string{"registrar"}, ExemptRoles: []string{"System Developer", "On Call"}})
	tests := []struct {
		name   string
		target Target
		want   string // "" for allowed
	}{
		{"an ordinary user is allowed", Target{Names: []string{"nurse1", "12-3"}, Roles: []string{"Nurse"}}, ""},
		{"the acting user, in other case", Target{Names: []string{"Dormant-Bot"}}, "acts as"},
		{"admin", Target{Names: []string{"nurse1", "ADMIN"}}, "system account"},
		{"daemon by system id", Target{Names: []string{"", "daemon"}}, "system account"},
		{"never_touch", Target{Names: []string{"registrar"}}, "never_touch"},
		{"an exempt role among others", Target{Names: []string{"x"}, Roles: []string{"Nurse", "on call"}}, "exempt role"},
		{"empty names protect nothing", Target{Names: []string{"", " "}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := g.Refusal(tc.target)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("Refusal = %q, want %q", got, tc.want)
			}
		})
	}
}
