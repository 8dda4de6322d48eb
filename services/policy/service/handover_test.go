package service

import (
	"fmt"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
)

// TestTheAdminBackendShowsWhatAnUpcomingUserHolds runs the real service against a fake
// OpenMRS without the appointments module: the roster sync brings the roles, a tick makes
// the user due, and the admin backend reads orders through the site's client.
func TestTheAdminBackendShowsWhatAnUpcomingUserHolds(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			fake := openmrstest.New()
			t.Cleanup(fake.Close)
			t.Setenv("DORMANT_HANDOVER_TEST_OPENMRS_PASSWORD", "Admin123")
			t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
			doc := fake.AddUser(openmrstest.UserSpec{Username: "doc", GivenName: "Ada", FamilyName: "Okafor", Roles: []string{"Pharmacist", "Clinician"}, Created: t0.AddDate(-1, 0, 0)})
			nurse := fake.AddUser(openmrstest.UserSpec{Username: "nurse", Roles: []string{"Clinician"}, Created: t0.AddDate(-1, 0, 0)})
			p := fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc, Identifier: "PRV-1"})
			fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Amoxicillin"})
			h := newHarness(t, e.open(t), fmt.Sprintf(`
sites:
  - id: main
    openmrs_url: %s
    openmrs_user: admin
    openmrs_password_env: DORMANT_HANDOVER_TEST_OPENMRS_PASSWORD
    policy: {enabled: true, dry_run: false, inactive_after: 90d, warn_before: [14d, 7d, 1d], feed_silence_window: 0}
`, fake.URL()))
			waitUntil(t, "the roster synced", func() bool {
				u, err := h.p.store.User(h.ctx, "main", doc)
				return err == nil && len(u.Roles) > 0
			})
			h.login("main", doc, "doc", t0.AddDate(0, 0, -80))
			h.login("main", nurse, "nurse", t0)
			h.settle() // the logins are in the projection before the tick decides
			h.now = t0
			h.tick(t0)

			got, err := adminBackend{p: h.p}.UserHandover(h.ctx, "main", doc, t0)
			if err != nil {
				t.Fatal(err)
			}
			if got.Upcoming == nil || got.Name != "Ada Okafor" {
				t.Fatalf("upcoming = %+v, name %q: want doc due for retirement", got.Upcoming, got.Name)
			}
			f := got.Facts
			if !f.Orders.Available || f.Orders.Count() != 1 || f.Orders.Items[0].Concept != "Amoxicillin" {
				t.Errorf("orders = %+v", f.Orders)
			}
			if f.Appointments.Available {
				t.Errorf("appointments = %+v, want not available on a site without the module", f.Appointments)
			}
			if len(f.Roles) != 1 || f.Roles[0].Name != "Pharmacist" {
				t.Errorf("roles = %+v, want only Pharmacist (the nurse holds Clinician too)", f.Roles)
			}
			if _, err := (adminBackend{p: h.p}).UserHandover(h.ctx, "main", "no-such-user", t0); err == nil {
				t.Error("an unknown user gave no error")
			}
			for _, tc := range []struct {
				days int
				want bool
			}{{14, false}, {7, false}, {1, true}} {
				if got := h.p.lastWarning(h.ctx, "main", &events.UserWarned{DaysLeft: tc.days}); got != tc.want {
					t.Errorf("a warning %d days before: last = %v, want %v", tc.days, got, tc.want)
				}
			}
		})
	}
}
