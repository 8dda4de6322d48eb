package service

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/policy/actuator"
)

// guardSite starts the service on one site whose sites file sets no exempt role and no
// never_touch name: whatever protects a user below comes from OpenMRS global properties.
func guardSite(t *testing.T, fake *openmrstest.Server) *harness {
	t.Helper()
	t.Setenv("DORMANT_GUARD_TEST_OPENMRS_PASSWORD", "Admin123")
	return newHarness(t, engines[0].open(t), fmt.Sprintf(`
sites:
  - id: main
    openmrs_url: %s
    openmrs_user: admin
    openmrs_password_env: DORMANT_GUARD_TEST_OPENMRS_PASSWORD
    policy:
      enabled: true
`, fake.URL()))
}

// forge publishes a deactivation request the engine never took (forged, or stale from before
// the protection was set) straight onto the decisions stream.
func forge(h *harness, userUUID, username string) string {
	h.t.Helper()
	id := "forged-" + username
	last := time.Now().UTC().Add(-400 * 24 * time.Hour)
	req := &events.DeactivationRequested{DecisionID: id, UserUUID: userUUID, Username: username, Rule: "inactive_after",
		Reason: "dormant: no login for 400 days", LastLoginAt: &last, DecidedAt: time.Now().UTC(), PolicyVersion: "forged"}
	ev, err := events.New(events.SourceFor("policy", "main"), "main", req, id, req.DecidedAt)
	if err != nil {
		h.t.Fatal(err)
	}
	h.publish(h.ns.DeactivationRequested("main"), ev)
	return id
}

// TestTheActuatorGuardSeesGlobalProperties: the actuator's second check uses the site's
// effective policy through the real wiring, so an exempt role or never_touch name set only
// as a dormant.* global property refuses a request the decision engine never made.
func TestTheActuatorGuardSeesGlobalProperties(t *testing.T) {
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	fake.SetSystemSetting("dormant.exemptRoles", "Pharmacist")
	fake.SetSystemSetting("dormant.neverTouch", "registrar")
	pharma := fake.AddUser(openmrstest.UserSpec{Username: "pharma", Roles: []string{"Pharmacist"}})
	registrar := fake.AddUser(openmrstest.UserSpec{Username: "registrar", Roles: []string{"Clerk"}})
	nurse := fake.AddUser(openmrstest.UserSpec{Username: "nurse", Roles: []string{"Nurse"}})
	h := guardSite(t, fake)

	for _, tc := range []struct {
		uuid, username string
		want           actuator.Outcome
		why            string
	}{
		{pharma, "pharma", actuator.OutcomeRefused, `exempt role "Pharmacist"`},
		{registrar, "registrar", actuator.OutcomeRefused, "never_touch"},
		// The control: the same path retires a user nothing protects.
		{nurse, "nurse", actuator.OutcomeDeactivated, "retired"},
	} {
		id := forge(h, tc.uuid, tc.username)
		var rec actuator.Record
		waitUntil(t, "the actuator's outcome for "+tc.username, func() bool {
			r, ok, err := h.p.actuatorStore.Decision(h.ctx, "main", id)
			rec = r
			return err == nil && ok
		})
		if rec.Outcome != tc.want || !strings.Contains(rec.Detail, tc.why) {
			t.Errorf("%s: outcome %s (%q), want %s mentioning %q", tc.username, rec.Outcome, rec.Detail, tc.want, tc.why)
		}
		if u, _ := fake.User(tc.uuid); u.Retired != (tc.want == actuator.OutcomeDeactivated) {
			t.Errorf("%s: retired = %v", tc.username, u.Retired)
		}
	}
}

// TestUnreadableGlobalPropertiesHoldTheRetirement: when the settings read fails at actuation,
// the request is neither carried out nor settled: it waits for its next attempt.
func TestUnreadableGlobalPropertiesHoldTheRetirement(t *testing.T) {
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	nurse := fake.AddUser(openmrstest.UserSpec{Username: "nurse", Roles: []string{"Nurse"}})
	h := guardSite(t, fake)
	fake.InjectFault(openmrstest.Fault{Method: http.MethodGet, PathPrefix: "/systemsetting", Count: -1, Status: http.StatusServiceUnavailable})
	before := fake.Requests()["GET /systemsetting"]
	id := forge(h, nurse, "nurse")
	waitUntil(t, "the actuator to try the settings read", func() bool { return fake.Requests()["GET /systemsetting"] > before })
	// Had the guard been skipped, the retirement would follow within milliseconds.
	time.Sleep(500 * time.Millisecond)
	if u, _ := fake.User(nurse); u.Retired {
		t.Fatal("retired while the global properties could not be read")
	}
	if n := fake.Requests()["DELETE /user/{uuid}"]; n != 0 {
		t.Fatalf("%d retire calls reached OpenMRS", n)
	}
	if _, ok, err := h.p.actuatorStore.Decision(h.ctx, "main", id); err != nil || ok {
		t.Fatalf("the request was settled (%v, %v); it should wait for its next attempt", ok, err)
	}
}
