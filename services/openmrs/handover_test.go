package openmrs_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
)

// handoverSite is a fake whose acting user may read providers, orders and appointments.
func handoverSite(t *testing.T, opts ...openmrstest.Option) (*openmrstest.Server, *openmrs.Client) {
	t.Helper()
	fake := openmrstest.New(opts...)
	t.Cleanup(fake.Close)
	fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivGetProviders, openmrstest.PrivGetOrders, openmrstest.PrivViewAppointments)
	fake.AddUser(openmrstest.UserSpec{Username: "dormant", Password: "s3cret", Roles: []string{"Dormant"}})
	c, err := openmrs.New(openmrs.Config{BaseURL: fake.URL(), Username: "dormant", Password: "s3cret", BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

func TestProvidersOfUserAreThoseOfTheUsersPerson(t *testing.T) {
	fake, c := handoverSite(t)
	doc := fake.AddUser(openmrstest.UserSpec{Username: "doc", GivenName: "Ada", FamilyName: "Okafor"})
	other := fake.AddUser(openmrstest.UserSpec{Username: "other"})
	p1 := fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc, Identifier: "PRV-1"})
	p2 := fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc, Identifier: "PRV-OLD", Retired: true})
	fake.AddProvider(openmrstest.ProviderSpec{UserUUID: other, Identifier: "PRV-9"})

	got, err := c.ProvidersOfUser(context.Background(), doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []openmrs.Provider{{UUID: p1, Display: "PRV-1 - Ada Okafor", Identifier: "PRV-1"}, {UUID: p2, Display: "PRV-OLD - Ada Okafor", Identifier: "PRV-OLD", Retired: true}}
	if !slices.Equal(got, want) {
		t.Fatalf("providers = %+v, want %+v", got, want)
	}
	none, err := c.ProvidersOfUser(context.Background(), "00000000-0000-4000-8000-000000000000")
	if err != nil || len(none) != 0 {
		t.Fatalf("unknown user: %v, %v; want an empty list as the search handler answers", none, err)
	}
}

func TestEachActiveOrderSkipsStoppedExpiredVoidedAndDiscontinuations(t *testing.T) {
	fake, c := handoverSite(t)
	doc := fake.AddUser(openmrstest.UserSpec{Username: "doc"})
	p := fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc, Identifier: "PRV-1"})
	now := time.Now().UTC()
	active := fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Amoxicillin", PatientName: "Jane Patient"})
	future := fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "CD4 count", OrderType: "Test Order", AutoExpire: now.Add(48 * time.Hour)})
	fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Stopped", Stopped: now.Add(-time.Minute)})
	fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Expired", AutoExpire: now.Add(-time.Minute)})
	fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Voided", Voided: true})
	fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Discontinuation", Action: "DISCONTINUE"})
	fake.SetMaxResults(100)

	var got []openmrs.Order
	if err := c.EachActiveOrder(context.Background(), func(o openmrs.Order) error { got = append(got, o); return nil }); err != nil {
		t.Fatal(err)
	}
	var uuids []string
	for _, o := range got {
		uuids = append(uuids, o.UUID)
		if o.OrdererUUID != p || o.Orderer != "PRV-1 - " || !o.ActiveAt(now) {
			t.Errorf("order %+v: want orderer %s and active now", o, p)
		}
	}
	slices.Sort(uuids)
	want := []string{active, future}
	slices.Sort(want)
	if !slices.Equal(uuids, want) {
		t.Fatalf("active orders = %v, want %v", uuids, want)
	}
}

func TestEachActiveOrderReadsEveryPage(t *testing.T) {
	fake, c := handoverSite(t)
	doc := fake.AddUser(openmrstest.UserSpec{Username: "doc"})
	p := fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc})
	fake.SetMaxResults(7)
	for range 30 {
		fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Paracetamol"})
	}
	n := 0
	if err := c.EachActiveOrder(context.Background(), func(openmrs.Order) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 30 {
		t.Fatalf("read %d orders, want 30 over pages capped at 7", n)
	}
}

func TestOrderActiveAt(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		o    openmrs.Order
		want bool
	}{
		{"open order", openmrs.Order{Action: "NEW", DateActivated: now.Add(-time.Hour)}, true},
		{"scheduled to start later", openmrs.Order{Action: "NEW", DateActivated: now.Add(time.Hour)}, false},
		{"stopped", openmrs.Order{Action: "NEW", DateStopped: now}, false},
		{"stop date ahead", openmrs.Order{Action: "REVISE", DateStopped: now.Add(time.Hour)}, true},
		{"expired", openmrs.Order{Action: "NEW", AutoExpireDate: now.Add(-time.Second)}, false},
		{"expires later", openmrs.Order{Action: "RENEW", AutoExpireDate: now.Add(time.Second)}, true},
		{"a discontinuation is never active", openmrs.Order{Action: "DISCONTINUE"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.o.ActiveAt(now); got != tc.want {
				t.Fatalf("ActiveAt = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestActiveOrdersNeedPlatform23(t *testing.T) {
	fake, c := handoverSite(t, openmrstest.WithVersion("2.2.1"))
	_ = fake
	err := c.EachActiveOrder(context.Background(), func(openmrs.Order) error { return nil })
	var ae *openmrs.APIError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("on 2.2: err = %v, want the 400 OrderResource gives without a search handler", err)
	}
}

func TestFutureAppointmentsWithoutTheModuleSayModuleMissing(t *testing.T) {
	fake, c := handoverSite(t)
	doc := fake.AddUser(openmrstest.UserSpec{Username: "doc"})
	p := fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc})
	_, err := c.FutureAppointments(context.Background(), p, time.Now())
	if !errors.Is(err, openmrs.ErrModuleMissing) {
		t.Fatalf("err = %v, want ErrModuleMissing", err)
	}
}

func TestFutureAppointmentsReadPastTheModulesCap(t *testing.T) {
	fake, c := handoverSite(t, openmrstest.WithAppointmentsModule())
	doc := fake.AddUser(openmrstest.UserSpec{Username: "doc"})
	p := fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc})
	other := fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc, Identifier: "second"})
	now := time.Now().UTC().Truncate(time.Millisecond)
	fake.SetSystemSetting("webservices.rest.maxResultsDefault", "3")
	var want []string
	for i := range 8 {
		want = append(want, fake.AddAppointment(openmrstest.AppointmentSpec{Providers: []string{p}, Service: "HIV clinic", Start: now.Add(time.Duration(i+1) * time.Hour)}))
	}
	// Two appointments at the same instant across a page boundary are both read.
	want = append(want, fake.AddAppointment(openmrstest.AppointmentSpec{Providers: []string{p}, Service: "HIV clinic", Start: now.Add(3 * time.Hour)}))
	fake.AddAppointment(openmrstest.AppointmentSpec{Providers: []string{p}, Start: now.Add(-time.Hour)})
	fake.AddAppointment(openmrstest.AppointmentSpec{Providers: []string{other}, Start: now.Add(time.Hour)})

	got, err := c.FutureAppointments(context.Background(), p, now)
	if err != nil {
		t.Fatal(err)
	}
	var uuids []string
	for _, a := range got.Appointments {
		uuids = append(uuids, a.UUID)
		if a.Service != "HIV clinic" || a.Status != "Scheduled" || a.Start.Before(now) || len(a.Providers) != 1 || a.Providers[0].Response != "ACCEPTED" {
			t.Errorf("appointment %+v", a)
		}
	}
	slices.Sort(uuids)
	slices.Sort(want)
	if !slices.Equal(uuids, want) || got.Truncated {
		t.Fatalf("appointments = %v (truncated %v), want %v", uuids, got.Truncated, want)
	}
}

func TestFutureAppointmentsNeedTheirPrivilege(t *testing.T) {
	fake, c := handoverSite(t, openmrstest.WithAppointmentsModule())
	fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers)
	_, err := c.FutureAppointments(context.Background(), "00000000-0000-4000-8000-000000000000", time.Now())
	if !openmrs.IsForbidden(err) || errors.Is(err, openmrs.ErrModuleMissing) {
		t.Fatalf("err = %v, want 403 and not 'module missing'", err)
	}
}

func TestFutureAppointmentsSayTruncatedWhenMoreThanACapStartAtOnce(t *testing.T) {
	fake, c := handoverSite(t, openmrstest.WithAppointmentsModule())
	doc := fake.AddUser(openmrstest.UserSpec{Username: "doc"})
	p := fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc})
	fake.SetSystemSetting("webservices.rest.maxResultsDefault", "2")
	at := time.Now().UTC().Add(time.Hour).Truncate(time.Millisecond)
	for range 3 {
		fake.AddAppointment(openmrstest.AppointmentSpec{Providers: []string{p}, Start: at})
	}
	got, err := c.FutureAppointments(context.Background(), p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Appointments) != 2 || !got.Truncated {
		t.Fatalf("read %d, truncated %v; want the 2 the cap lets through, marked truncated", len(got.Appointments), got.Truncated)
	}
}
