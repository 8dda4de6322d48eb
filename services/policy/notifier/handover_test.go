package notifier

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/handover"
)

// startWithHandover starts a notifier that reads handover facts from the world's fake
// OpenMRS (which has no appointments module) and projection.
func (w *world) startWithHandover(prefix string) *Notifier {
	w.t.Helper()
	w.fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivManageAlerts, openmrstest.PrivGetProviders, openmrstest.PrivGetOrders)
	client, err := openmrs.New(openmrs.Config{BaseURL: w.fake.URL(), Username: "dormant", Password: "Dormant123"})
	if err != nil {
		w.t.Fatal(err)
	}
	r, err := handover.New(handover.Config{Projection: w.proj, Sites: map[string]handover.OpenMRS{site: client}})
	if err != nil {
		w.t.Fatal(err)
	}
	opts := w.opts
	opts.ConsumerPrefix = prefix
	n, err := New(w.ctx, Deps{Log: zap.NewNop(), JS: w.js, NS: w.ns, Store: w.store, Directory: w.proj, Sites: []Site{w.site}, Handover: r}, opts)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	w.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			w.t.Error(err)
		}
	})
	return n
}

func TestTheLastWarningAndTheDigestSayWhatToHandOver(t *testing.T) {
	w := newWorld(t)
	doc := w.user("doc", "Ada", "Okafor", "ada@clinic-a.example.org")
	if err := w.proj.SyncUser(w.ctx, policy.User{Site: site, UUID: doc, Username: "doc", GivenName: "Ada", FamilyName: "Okafor", Email: "ada@clinic-a.example.org",
		Roles: []string{"Pharmacist"}, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	p := w.fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc, Identifier: "PRV-1"})
	w.fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Amoxicillin", PatientName: "Jane Patient"})
	w.fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Viral load", OrderType: "Test Order"})
	n := w.startWithHandover("notifier")
	on := time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	w.publish("warn-7", time.Now().UTC(), &events.UserWarned{UserUUID: doc, Username: "doc", Rule: "inactive_after", DeactivateOn: on, DaysLeft: 7, PolicyVersion: "v1"})
	first := w.mail.wait(t, 1)[0]
	w.publish("warn-1", time.Now().UTC(), &events.UserWarned{UserUUID: doc, Username: "doc", Rule: "inactive_after", DeactivateOn: on, DaysLeft: 1, PolicyVersion: "v1"})
	last := w.mail.wait(t, 2)[1]

	if strings.Contains(first.Text, "hand over") {
		t.Errorf("an earlier warning lists the handover:\n%s", first.Text)
	}
	for _, want := range []string{
		"please hand over what the account still holds",
		"active order ORD-1: Amoxicillin (Drug Order)",
		"active order ORD-2: Viral load (Test Order)",
		"appointments could not be checked: the appointments module is not installed at this site",
		"role Pharmacist: the only active user with this role",
	} {
		if !strings.Contains(last.Text, want) {
			t.Errorf("last warning lacks %q:\n%s", want, last.Text)
		}
	}
	if strings.Contains(last.Text+last.HTML, "Jane") {
		t.Errorf("the warning carries a patient's name:\n%s", last.Text)
	}
	if !strings.Contains(last.HTML, "<li>active order ORD-1: Amoxicillin (Drug Order)") {
		t.Errorf("html of the last warning:\n%s", last.HTML)
	}

	n.digest = 0
	if err := n.SendDigests(w.ctx, time.Date(2026, 4, 30, 8, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	d := w.mail.wait(t, 3)[2]
	want := "to hand over: 2 active orders; future appointments not available; last active holder of: Pharmacist"
	if !strings.Contains(d.Text, want) || !strings.Contains(d.HTML, want) {
		t.Fatalf("digest lacks %q:\n%s\n%s", want, d.Text, d.HTML)
	}
}
