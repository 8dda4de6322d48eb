package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/policy/admin"
	"github.com/dormant-dev/dormant/services/policy/handover"
)

// handoverBackend is memBackend that also knows what users hold in OpenMRS.
type handoverBackend struct {
	*memBackend
	facts map[string]handover.Facts
}

func (b *handoverBackend) UserHandover(_ context.Context, site, user string, _ time.Time) (admin.UserHandover, error) {
	f, ok := b.facts[user]
	if !ok {
		return admin.UserHandover{}, fmt.Errorf("%w: unknown user", admin.ErrInvalid)
	}
	up := &admin.Upcoming{UserUUID: user, Username: "doc", DeactivateOn: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Reason: "no activity since 2026-09-01"}
	return admin.UserHandover{UserUUID: user, Username: "doc", Name: "Ada Okafor", Upcoming: up, Facts: f}, nil
}

func newHandoverHarness(t *testing.T) *harness {
	t.Helper()
	h, fake := newHarness(t) // for its fake OpenMRS and its users
	c, err := openmrs.New(openmrs.Config{BaseURL: fake.URL(), Username: "admin", Password: "Admin123"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	hb := &handoverBackend{memBackend: h.backend, facts: map[string]handover.Facts{
		"uuid-doc": {Site: "clinic-a", UserUUID: "uuid-doc", ReadAt: at, Providers: []string{"PRV-1 - Ada Okafor"},
			Orders:       handover.Section[handover.Order]{Available: true, Items: []handover.Order{{Number: "ORD-7", Concept: "Amoxicillin", Type: "Drug Order", Activated: at.AddDate(0, -1, 0)}}, More: 3},
			Appointments: handover.Section[handover.Appointment]{Reason: "the appointments module is not installed at this site"},
			Roles:        []handover.Role{{Name: "Pharmacist"}, {Name: "Lab", OthersDue: 2}}},
		"uuid-clerk": {Site: "clinic-a", UserUUID: "uuid-clerk", ReadAt: at, NotAProvider: true,
			Orders: handover.Section[handover.Order]{Available: true}, Appointments: handover.Section[handover.Appointment]{Available: true}},
	}}
	s, err := admin.New(admin.Config{SessionKey: []byte("0123456789abcdef0123456789abcdef"), Sites: []string{"clinic-a"}},
		admin.OpenMRSAuth{Sites: map[string]admin.CredentialChecker{"clinic-a": c}}, hb, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &harness{t: t, srv: srv, client: &http.Client{Jar: jar, CheckRedirect: h.client.CheckRedirect}, backend: h.backend}
}

func TestTheUserPageShowsWhatToHandOver(t *testing.T) {
	h := newHandoverHarness(t)
	h.signIn("manager", "Manager123")
	for _, tc := range []struct {
		name, path string
		code       int
		want, not  []string
	}{
		{"orders, a missing module and last roles", "/sites/clinic-a/users/uuid-doc", http.StatusOK,
			[]string{"Handover: doc", "retires on <strong>2027-01-01</strong>", "ORD-7", "Amoxicillin", "and 3 more.",
				"Not available: the appointments module is not installed at this site.",
				"Pharmacist: the only active user with this role", "Lab: the 2 other holders are due for retirement too",
				"4 active orders; future appointments not available; last active holder of: Pharmacist, Lab"},
			[]string{"Future appointments</h2>\n<p>None."}},
		{"a user who is not a provider holds nothing", "/sites/clinic-a/users/uuid-clerk", http.StatusOK,
			[]string{"not a provider", "nothing to hand over"}, []string{"Not available"}},
		{"an unknown user", "/sites/clinic-a/users/uuid-nobody", http.StatusNotFound, []string{"does not know this user"}, nil},
		{"the upcoming list links to it", "/sites/clinic-a/upcoming", http.StatusOK, []string{`href="/sites/clinic-a/users/uuid-119">Handover</a>`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := h.get(tc.path)
			if code != tc.code {
				t.Fatalf("GET %s = %d, want %d", tc.path, code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(body, w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}

func TestTheUserPageNeedsAHandoverBackendAndASignIn(t *testing.T) {
	h, _ := newHarness(t) // memBackend only
	h.signIn("manager", "Manager123")
	if code, _, _ := h.get("/sites/clinic-a/users/uuid-doc"); code != http.StatusNotFound {
		t.Fatalf("without a handover backend: %d, want 404", code)
	}
	hh := newHandoverHarness(t)
	if code, _, hdr := hh.get("/sites/clinic-a/users/uuid-doc"); code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/signin") {
		t.Fatalf("signed out: %d to %q, want a redirect to sign in", code, hdr.Get("Location"))
	}
}
