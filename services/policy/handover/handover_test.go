package handover_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/handover"
	"github.com/dormant-dev/dormant/services/policy/sqlite"
)

const site = "clinic-a"

// world is a fake OpenMRS site and the policy projection of its users.
type world struct {
	t     *testing.T
	fake  *openmrstest.Server
	store *sqlite.Store
	c     *openmrs.Client
	now   time.Time
	ticks int
}

func newWorld(t *testing.T, opts ...openmrstest.Option) *world {
	t.Helper()
	fake := openmrstest.New(opts...)
	t.Cleanup(fake.Close)
	fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivGetProviders, openmrstest.PrivGetOrders, openmrstest.PrivViewAppointments)
	fake.AddUser(openmrstest.UserSpec{Username: "dormant", Password: "s3cret", Roles: []string{"Dormant"}})
	c, err := openmrs.New(openmrs.Config{BaseURL: fake.URL(), Username: "dormant", Password: "s3cret", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqldb.Open(ctx, filepath.Join(t.TempDir(), "policy.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, fake: fake, store: store, c: c, now: time.Now().UTC()}
}

// user adds a user to OpenMRS and the projection; due marks them due for retirement.
func (w *world) user(username string, roles []string, due, retired bool) string {
	w.t.Helper()
	id := w.fake.AddUser(openmrstest.UserSpec{Username: username, GivenName: strings.ToUpper(username[:1]) + username[1:], FamilyName: "Test", Roles: roles, Retired: retired})
	ctx := context.Background()
	if err := w.store.SyncUser(ctx, policy.User{Site: site, UUID: id, Username: username, Roles: append(roles, "Authenticated"), CreatedAt: w.now.Add(-400 * 24 * time.Hour), Retired: retired}); err != nil {
		w.t.Fatal(err)
	}
	if due {
		st := policy.State{Rule: "inactive", Anchor: w.now.Add(-80 * 24 * time.Hour), Due: w.now.Add(10 * 24 * time.Hour), DeactivateOn: w.now.Add(10 * 24 * time.Hour), Warned: 14 * policy.Day}
		w.ticks++ // each commit is a newer tick
		if err := w.store.CommitTick(ctx, policy.TickCommit{Site: site, At: w.now.Add(time.Duration(w.ticks-100) * time.Second), Baseline: w.now.Add(-time.Hour), States: []policy.StateChange{{UserUUID: id, State: st}}}); err != nil {
			w.t.Fatal(err)
		}
	}
	return id
}

func (w *world) reader(sites map[string]handover.OpenMRS) *handover.Reader {
	w.t.Helper()
	if sites == nil {
		sites = map[string]handover.OpenMRS{site: w.c}
	}
	r, err := handover.New(handover.Config{Projection: w.store, Sites: sites, Now: func() time.Time { return w.now }})
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) facts(r *handover.Reader, userUUID string) handover.Facts {
	w.t.Helper()
	f, err := r.Facts(context.Background(), site, userUUID)
	if err != nil {
		w.t.Fatal(err)
	}
	return f
}

func TestRolesWithoutAnotherActiveHolderAreListed(t *testing.T) {
	w := newWorld(t)
	doc := w.user("doc", []string{"Clinician", "Pharmacist", "Lab", "Records"}, true, false)
	w.user("nurse", []string{"Clinician"}, false, false)
	w.user("labtech", []string{"Lab"}, true, false)
	w.user("archivist", []string{"Records"}, false, true)
	f := w.facts(w.reader(nil), doc)

	got := map[string]int{}
	for _, r := range f.Roles {
		got[r.Name] = r.OthersDue
	}
	for _, tc := range []struct {
		role      string
		listed    bool
		othersDue int
	}{
		{"Pharmacist", true, 0}, // nobody else holds it
		{"Clinician", false, 0}, // an active nurse who is not due holds it too
		{"Lab", true, 1},        // the other holder is due for retirement too
		{"Records", true, 0},    // the other holder is retired
		{"Authenticated", false, 0},
	} {
		t.Run(tc.role, func(t *testing.T) {
			n, listed := got[tc.role]
			if listed != tc.listed || n != tc.othersDue {
				t.Fatalf("%s: listed %v with %d others due; want listed %v with %d", tc.role, listed, n, tc.listed, tc.othersDue)
			}
		})
	}
}

func TestOrdersAndAppointmentsOfTheUsersProviders(t *testing.T) {
	w := newWorld(t, openmrstest.WithAppointmentsModule())
	doc := w.user("doc", nil, true, false)
	other := w.user("other", nil, false, false)
	p := w.fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc, Identifier: "PRV-1"})
	po := w.fake.AddProvider(openmrstest.ProviderSpec{UserUUID: other, Identifier: "PRV-2"})
	w.fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Amoxicillin", PatientName: "Jane Patient"})
	w.fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Viral load", OrderType: "Test Order"})
	w.fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Stopped", Stopped: w.now.Add(-time.Hour)})
	w.fake.AddOrder(openmrstest.OrderSpec{Orderer: po, Concept: "Someone else's"})
	w.fake.AddAppointment(openmrstest.AppointmentSpec{Providers: []string{p}, Service: "ART refill", Start: w.now.Add(48 * time.Hour), PatientName: "Jane Patient"})
	w.fake.AddAppointment(openmrstest.AppointmentSpec{Providers: []string{p}, Service: "Cancelled", Start: w.now.Add(49 * time.Hour), Status: "Cancelled"})
	w.fake.AddAppointment(openmrstest.AppointmentSpec{Providers: []string{p}, Service: "Declined", Start: w.now.Add(50 * time.Hour), Response: "REJECTED"})
	w.fake.AddAppointment(openmrstest.AppointmentSpec{Providers: []string{p}, Service: "Past", Start: w.now.Add(-48 * time.Hour)})
	w.fake.AddAppointment(openmrstest.AppointmentSpec{Providers: []string{po}, Service: "Someone else's", Start: w.now.Add(48 * time.Hour)})

	f := w.facts(w.reader(nil), doc)
	if !f.Orders.Available || f.Orders.Count() != 2 || f.Orders.Items[0].Concept != "Amoxicillin" && f.Orders.Items[1].Concept != "Amoxicillin" {
		t.Fatalf("orders = %+v, want the two active orders of PRV-1", f.Orders)
	}
	if !f.Appointments.Available || f.Appointments.Count() != 1 || f.Appointments.Items[0].Service != "ART refill" {
		t.Fatalf("appointments = %+v, want the one future appointment still needing PRV-1", f.Appointments)
	}
	if len(f.Providers) != 1 || f.Providers[0] != "PRV-1 - Doc Test" {
		t.Fatalf("providers = %v", f.Providers)
	}
	if s := f.Summary(); s != "2 active orders; 1 future appointments" {
		t.Fatalf("summary = %q", s)
	}
	for _, o := range f.Orders.Items {
		if strings.Contains(o.Concept+o.Number+o.Type, "Jane") {
			t.Fatalf("order %+v carries patient data", o)
		}
	}
}

func TestAMissingAppointmentsModuleIsNotAvailableNotZero(t *testing.T) {
	w := newWorld(t) // no appointments module
	doc := w.user("doc", nil, true, false)
	p := w.fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc, Identifier: "PRV-1"})
	w.fake.AddOrder(openmrstest.OrderSpec{Orderer: p, Concept: "Amoxicillin"})
	f := w.facts(w.reader(nil), doc)
	if f.Appointments.Available || !strings.Contains(f.Appointments.Reason, "appointments module is not installed") {
		t.Fatalf("appointments = %+v, want not available because the module is missing", f.Appointments)
	}
	if !f.Orders.Available || f.Orders.Count() != 1 {
		t.Fatalf("orders = %+v, want still read", f.Orders)
	}
	if f.Empty() || !strings.Contains(f.Summary(), "future appointments not available") {
		t.Fatalf("summary = %q, empty %v", f.Summary(), f.Empty())
	}
}

func TestWhatCannotBeReadSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name        string
		setup       func(w *world)
		sites       func(w *world) map[string]handover.OpenMRS
		wantOrders  string
		wantNothing bool
	}{
		{name: "missing Get Orders", setup: func(w *world) {
			w.fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivGetProviders, openmrstest.PrivViewAppointments)
		}, wantOrders: "lacks the Get Orders privilege"},
		{name: "missing Get Providers", setup: func(w *world) {
			w.fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivGetOrders)
		}, wantOrders: "lacks the Get Providers privilege"},
		{name: "platform 2.2 cannot list active orders", sites: nil, wantOrders: "Platform 2.3"},
		{name: "no OpenMRS connection", sites: func(*world) map[string]handover.OpenMRS { return map[string]handover.OpenMRS{} }, wantOrders: "no OpenMRS connection"},
		{name: "OpenMRS down", setup: func(w *world) { w.fake.InjectFault(openmrstest.Fault{Count: -1, Status: 503}) }, wantOrders: "could not be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []openmrstest.Option
			if strings.Contains(tc.name, "2.2") {
				opts = append(opts, openmrstest.WithVersion("2.2.0"))
			}
			w := newWorld(t, opts...)
			doc := w.user("doc", []string{"Pharmacist"}, true, false)
			w.fake.AddProvider(openmrstest.ProviderSpec{UserUUID: doc})
			if tc.setup != nil {
				tc.setup(w)
			}
			var sites map[string]handover.OpenMRS
			if tc.sites != nil {
				sites = tc.sites(w)
			}
			f := w.facts(w.reader(sites), doc)
			if f.Orders.Available || !strings.Contains(f.Orders.Reason, tc.wantOrders) {
				t.Fatalf("orders = %+v, want not available: %q", f.Orders, tc.wantOrders)
			}
			if len(f.Roles) != 1 {
				t.Fatalf("roles = %+v: the projection's roles do not depend on OpenMRS", f.Roles)
			}
		})
	}
}

func TestAUserWithoutProviderHoldsNoOrdersOrAppointments(t *testing.T) {
	w := newWorld(t)
	clerk := w.user("clerk", nil, true, false)
	f := w.facts(w.reader(nil), clerk)
	if !f.NotAProvider || !f.Empty() || f.Summary() != "nothing to hand over" {
		t.Fatalf("facts = %+v, want known to hold nothing", f)
	}
}

func TestReadsAreSharedUntilMaxAge(t *testing.T) {
	w := newWorld(t)
	a := w.user("a", nil, true, false)
	b := w.user("b", nil, true, false)
	w.fake.AddProvider(openmrstest.ProviderSpec{UserUUID: a})
	var mu sync.Mutex
	now := w.now
	r, err := handover.New(handover.Config{Projection: w.store, Sites: map[string]handover.OpenMRS{site: w.c}, MaxAge: time.Minute,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{a, b, a, b} {
		w.facts(r, u)
	}
	if n := w.fake.Requests()["GET /order"]; n != 1 {
		t.Fatalf("%d order listings for four reads in one period, want 1", n)
	}
	if n := w.fake.Requests()["GET /provider"]; n != 2 {
		t.Fatalf("%d provider lookups for two users read twice, want 2", n)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	w.facts(r, a)
	if n := w.fake.Requests()["GET /order"]; n != 2 {
		t.Fatalf("%d order listings after MaxAge, want a fresh one", n)
	}
}
