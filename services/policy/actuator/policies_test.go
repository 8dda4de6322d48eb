package actuator

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/policy"
)

// globalPolicies reads the effective policy the way the decision engine does: defaults with
// the site's dormant.* global properties laid over them (this site's file block is empty).
func (w *world) globalPolicies(reads *atomic.Int32) Policies {
	return PoliciesFunc(func(ctx context.Context, s string) (policy.Policy, error) {
		if reads != nil {
			reads.Add(1)
		}
		props, err := w.client.SystemSettings(ctx, "dormant.")
		if err != nil {
			return policy.Policy{}, err
		}
		l, err := policy.Load(nil, props)
		return l.Policy, err
	})
}

// TestTheGuardUsesTheEffectivePolicy: a protection set only as an OpenMRS global property
// (not in the sites file the site's own guard was built from) refuses a forged or stale
// request, with a security alert; what the global properties do not protect is retired.
func TestTheGuardUsesTheEffectivePolicy(t *testing.T) {
	old := time.Now().UTC().Add(-100 * 24 * time.Hour)
	tests := []struct {
		name     string
		settings map[string]string
		spec     openmrstest.UserSpec
		// projected: the projection knows the user (with its roles); otherwise only OpenMRS does.
		projected bool
		want      Outcome
		why       string
	}{
		{"an exempt role set only as a global property", map[string]string{"dormant.exemptRoles": "Pharmacist, On Call"},
			openmrstest.UserSpec{Username: "pharma1", Roles: []string{"Pharmacist"}}, true, OutcomeRefused, `exempt role "Pharmacist"`},
		{"an exempt role only OpenMRS knows the user holds", map[string]string{"dormant.exemptRoles": "On Call"},
			openmrstest.UserSpec{Username: "oncall1", Roles: []string{"On Call"}}, false, OutcomeRefused, `exempt role "On Call"`},
		{"a never_touch name set only as a global property", map[string]string{"dormant.neverTouch": "registrar"},
			openmrstest.UserSpec{Username: "registrar", Roles: []string{"Clerk"}}, true, OutcomeRefused, "never_touch"},
		{"a role the global properties do not exempt is retired", map[string]string{"dormant.exemptRoles": "Pharmacist"},
			openmrstest.UserSpec{Username: "nurse1", Roles: []string{"Nurse"}}, true, OutcomeDeactivated, "retired"},
		{"the global properties replace the file's exempt roles, as for the engine", map[string]string{"dormant.exemptRoles": "Pharmacist"},
			openmrstest.UserSpec{Username: "dev1", Roles: []string{"System Developer"}}, true, OutcomeDeactivated, "retired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivEditUsers, openmrstest.PrivManageAlerts, openmrstest.PrivGetGlobalProperties)
			for k, v := range tc.settings {
				w.fake.SetSystemSetting(k, v)
			}
			var id string
			if tc.projected {
				id = w.user(tc.spec, old)
			} else {
				id = w.fake.AddUser(tc.spec)
			}
			// The site's own guard (the file's lists) would let every one of these through.
			if why := GuardFor("dormant", policy.DefaultPolicy()).Refusal(Target{Names: []string{tc.spec.Username}, Roles: tc.spec.Roles}); why != "" && tc.want == OutcomeRefused {
				t.Fatalf("the file's guard already refuses (%s): the case proves nothing", why)
			}
			w.policies = w.globalPolicies(nil)
			w.start(nil)
			w.request(events.DeactivationRequested{DecisionID: "d-forged", UserUUID: id, Username: tc.spec.Username, LastLoginAt: &old})
			r := w.outcome("d-forged")
			if r.Outcome != tc.want || !strings.Contains(r.Detail, tc.why) {
				t.Fatalf("outcome = %s (%q), want %s mentioning %q", r.Outcome, r.Detail, tc.want, tc.why)
			}
			u, _ := w.fake.User(id)
			alerts := w.published(w.ns.StreamSecurity(), w.ns.Security(site))
			if tc.want == OutcomeRefused {
				if u.Retired || w.retires(id) != 0 {
					t.Fatal("a user the effective policy protects was retired")
				}
				if len(alerts) != 1 || decode[*events.SecurityAlert](t, alerts[0]).Kind != KindRefusedDeactivation {
					t.Fatalf("%d security alerts, want 1 refused_deactivation", len(alerts))
				}
			} else if !u.Retired || len(alerts) != 0 {
				t.Fatalf("retired = %v with %d alerts, want retired without alert", u.Retired, len(alerts))
			}
		})
	}
}

// TestUnreadablePolicyHoldsTheRetirement: when the effective policy cannot be read (OpenMRS
// failing the settings read, the acting user lacking the privilege, a source that errs), no
// request is judged by the file's lists alone: it is retried, counted, and after the last
// attempt fails as retryable, with nothing retired.
func TestUnreadablePolicyHoldsTheRetirement(t *testing.T) {
	old := time.Now().UTC().Add(-100 * 24 * time.Hour)
	tests := []struct {
		name       string
		unreadable func(w *world) Policies
	}{
		{"the settings read answers 503", func(w *world) Policies {
			w.fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivEditUsers, openmrstest.PrivGetGlobalProperties)
			w.fake.InjectFault(openmrstest.Fault{Method: http.MethodGet, PathPrefix: "/systemsetting", Count: -1, Status: http.StatusServiceUnavailable})
			return w.globalPolicies(nil)
		}},
		{"the acting user may not read global properties", func(w *world) Policies {
			return w.globalPolicies(nil)
		}},
		{"a global property the policy cannot take", func(w *world) Policies {
			w.fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivEditUsers, openmrstest.PrivGetGlobalProperties)
			w.fake.SetSystemSetting("dormant.inactiveAfterDays", "soon")
			return w.globalPolicies(nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			id := w.user(openmrstest.UserSpec{Username: "nurse2", Roles: []string{"Nurse"}}, old)
			w.policies = tc.unreadable(w)
			a := w.start(nil)
			w.request(events.DeactivationRequested{DecisionID: "d-held", UserUUID: id, Username: "nurse2", LastLoginAt: &old})
			r := w.outcome("d-held")
			if r.Outcome != OutcomeFailed || !strings.Contains(r.Detail, "guard cannot be checked") {
				t.Fatalf("outcome = %s (%q), want failed because the guard cannot be checked", r.Outcome, r.Detail)
			}
			if u, _ := w.fake.User(id); u.Retired || w.retires(id) != 0 {
				t.Fatal("retired while the guard could not be checked")
			}
			if got := testutil.ToFloat64(a.metrics.guardUnavailable.WithLabelValues(site)); got != float64(w.opts.MaxAttempts) {
				t.Fatalf("guard_unavailable = %v, want one per attempt (%d)", got, w.opts.MaxAttempts)
			}
			failed := w.published(w.ns.StreamActions(), w.ns.DeactivationFailed(site))
			if len(failed) != 1 {
				t.Fatalf("%d failed events, want 1", len(failed))
			}
			if f := decode[*events.DeactivationFailed](t, failed[0]); !f.Retryable || f.Attempts != w.opts.MaxAttempts {
				t.Fatalf("failed event %+v, want retryable after %d attempts", f, w.opts.MaxAttempts)
			}
		})
	}
}

// TestAHeldRetirementIsJudgedOnceThePolicyIsReadable: a request held while the policy could
// not be read is, once it can, judged by that policy: here it protects the user.
func TestAHeldRetirementIsJudgedOnceThePolicyIsReadable(t *testing.T) {
	w := newWorld(t)
	w.opts.MaxAttempts = 100
	old := time.Now().UTC().Add(-100 * 24 * time.Hour)
	id := w.user(openmrstest.UserSpec{Username: "pharma2", Roles: []string{"Pharmacist"}}, old)
	var readable atomic.Bool
	var reads atomic.Int32
	inner := w.globalPolicies(&reads)
	w.fake.SetSystemSetting("dormant.exemptRoles", "Pharmacist")
	w.fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivEditUsers, openmrstest.PrivManageAlerts, openmrstest.PrivGetGlobalProperties)
	w.policies = PoliciesFunc(func(ctx context.Context, s string) (policy.Policy, error) {
		if !readable.Load() {
			reads.Add(1)
			return policy.Policy{}, errors.New("connection refused")
		}
		return inner.Policy(ctx, s)
	})
	a := w.start(nil)
	w.request(events.DeactivationRequested{DecisionID: "d-later", UserUUID: id, Username: "pharma2", LastLoginAt: &old})
	deadline := time.Now().Add(10 * time.Second)
	for reads.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d policy reads, want the request retried", reads.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok, _ := w.store.Decision(w.ctx, site, "d-later"); ok || w.retires(id) != 0 {
		t.Fatal("the held request was settled or retired while the policy was unreadable")
	}
	if got := testutil.ToFloat64(a.metrics.guardUnavailable.WithLabelValues(site)); got < 3 {
		t.Fatalf("guard_unavailable = %v, want every held attempt counted", got)
	}
	readable.Store(true)
	if r := w.outcome("d-later"); r.Outcome != OutcomeRefused || !strings.Contains(r.Detail, "Pharmacist") {
		t.Fatalf("outcome = %s (%q), want refused for the exempt role", r.Outcome, r.Detail)
	}
	if u, _ := w.fake.User(id); u.Retired {
		t.Fatal("retired")
	}
}

// TestThePolicyIsReadOncePerMaxAge: a burst of retirements costs one settings read, not one
// per request, and a read is never older than PolicyMaxAge.
func TestThePolicyIsReadOncePerMaxAge(t *testing.T) {
	var reads atomic.Int32
	c := &policyCache{maxAge: PolicyMaxAge, sites: map[string]cachedPolicy{},
		src: PoliciesFunc(func(context.Context, string) (policy.Policy, error) {
			reads.Add(1)
			return policy.Policy{ExemptRoles: []string{"On Call"}}, nil
		})}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		at    time.Time
		site  string
		reads int32
	}{
		{t0, site, 1},
		{t0.Add(PolicyMaxAge - time.Second), site, 1},
		{t0.Add(PolicyMaxAge - time.Second), "clinic-b", 2},
		{t0.Add(PolicyMaxAge), site, 3},
		{t0.Add(-time.Minute), site, 4}, // the wall clock stepped back: read again
	} {
		p, err := c.get(context.Background(), step.site, step.at)
		if err != nil || len(p.ExemptRoles) != 1 {
			t.Fatalf("get = %+v, %v", p, err)
		}
		if got := reads.Load(); got != step.reads {
			t.Fatalf("at %s for %s: %d reads, want %d", step.at.Sub(t0), step.site, got, step.reads)
		}
	}
}
