package admin_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/policy/admin"
	"github.com/dormant-dev/dormant/services/policy/audit"
)

func (b *memBackend) Audit(_ context.Context, site string, from, to time.Time) (audit.Report, error) {
	b.changes = append(b.changes, fmt.Sprintf("audit %s %s %s", site, from.Format(time.DateOnly), to.Format(time.DateOnly)))
	return audit.Report{Site: site, From: from, To: to, Cases: []audit.Case{{Username: "=evil", UserUUID: "u1", Status: audit.StatusRetired}}}, nil
}
func (b *memBackend) RequestReactivation(_ context.Context, site, username, note, ip string) error {
	b.changes = append(b.changes, fmt.Sprintf("request %s %s %q from %s", site, username, note, ip))
	return nil
}
func (b *memBackend) ReactivationRequests(context.Context, string) ([]admin.ReactivationRequest, error) {
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	return []admin.ReactivationRequest{
		{ID: "r1", Username: "ana", Note: "back from leave", Status: "pending", RequestedAt: at, Known: true, Retired: true, UserUUID: "u-ana"},
		{ID: "r2", Username: "ghost", Note: "<script>x</script>", Status: "pending", RequestedAt: at},
		{ID: "r0", Username: "old", Status: "rejected", DecidedBy: "bob", DecisionReason: "left the clinic", RequestedAt: at, DecidedAt: at},
	}, nil
}
func (b *memBackend) ApproveRequest(_ context.Context, site, id, by string) error {
	b.changes = append(b.changes, "approve request "+id+" by "+by)
	return nil
}
func (b *memBackend) RejectRequest(_ context.Context, site, id, by, reason string) error {
	b.changes = append(b.changes, "reject request "+id+" by "+by+": "+reason)
	return nil
}

// newRequestsHarness is newHarness with the public page's limits set.
func newRequestsHarness(t *testing.T, limits admin.RequestLimits) (*harness, http.Handler) {
	t.Helper()
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	fake.AddRole("User Manager", "Get Users", "Edit Users")
	fake.AddUser(openmrstest.UserSpec{Username: "manager", Password: "Manager123", Roles: []string{"User Manager"}})
	c, err := openmrs.New(openmrs.Config{BaseURL: fake.URL(), Username: "admin", Password: "Admin123"})
	if err != nil {
		t.Fatal(err)
	}
	backend := &memBackend{}
	s, err := admin.New(admin.Config{SessionKey: []byte("0123456789abcdef0123456789abcdef"), Sites: []string{"clinic-a", "clinic-b"}, Requests: limits},
		admin.OpenMRSAuth{Sites: map[string]admin.CredentialChecker{"clinic-a": c}}, backend, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &harness{t: t, srv: srv, client: client, backend: backend}, mux
}

var tokenRE = regexp.MustCompile(`name="csrf_token" value="[^"]*"`)

// TestPublicRequestAnswersAlike: a request for an account, for a retired one and for none at
// all gets the same page, after at least the same time; the backend gets every one of them.
func TestPublicRequestAnswersAlike(t *testing.T) {
	const floor = 150 * time.Millisecond
	h, _ := newRequestsHarness(t, admin.RequestLimits{PerIP: 100, PerIPBurst: 100, MinAnswer: floor})
	code, form, _ := h.get("/request-reactivation?site=clinic-a")
	if code != http.StatusOK || !strings.Contains(form, `name="username"`) || strings.Contains(form, "Sign out") {
		t.Fatalf("public form = %d\n%s", code, form)
	}
	var bodies []string
	for _, user := range []string{"ana", "ghost-account", "admin"} {
		tok := h.csrf("/request-reactivation?site=clinic-a")
		start := time.Now()
		code, body, _ := h.post("/request-reactivation", url.Values{"csrf_token": {tok}, "site": {"clinic-a"}, "username": {user}, "note": {"please"}})
		took := time.Since(start)
		if code != http.StatusOK || !strings.Contains(body, `id="request-done"`) {
			t.Fatalf("request for %s = %d\n%s", user, code, body)
		}
		if took < floor {
			t.Errorf("the answer for %s took %s, less than the floor %s", user, took, floor)
		}
		bodies = append(bodies, strings.ReplaceAll(tokenRE.ReplaceAllString(body, ""), "<strong>"+user+"</strong>", "<strong>USER</strong>"))
	}
	for i := 1; i < len(bodies); i++ {
		if bodies[i] != bodies[0] {
			t.Errorf("answer %d differs from the first:\n%s\n---\n%s", i, bodies[i], bodies[0])
		}
	}
	if want := `request clinic-a ana "please" from 127.0.0.1`; len(h.backend.changes) != 3 || h.backend.changes[0] != want {
		t.Errorf("backend calls = %q, want three, the first %q", h.backend.changes, want)
	}
}

func TestPublicRequestIsCheckedBeforeItIsTaken(t *testing.T) {
	h, _ := newRequestsHarness(t, admin.RequestLimits{PerIP: 100, PerIPBurst: 100, MinAnswer: time.Millisecond})
	tok := h.csrf("/request-reactivation?site=clinic-a")
	tests := []struct {
		name     string
		form     url.Values
		wantCode int
		wantText string
	}{
		{"no CSRF token", url.Values{"site": {"clinic-a"}, "username": {"ana"}}, http.StatusForbidden, "expired"},
		{"a token of another session", url.Values{"csrf_token": {"forged"}, "site": {"clinic-a"}, "username": {"ana"}}, http.StatusForbidden, "expired"},
		{"an unknown site", url.Values{"csrf_token": {tok}, "site": {"nowhere"}, "username": {"ana"}}, http.StatusNotFound, "no such site"},
		{"no username", url.Values{"csrf_token": {tok}, "site": {"clinic-a"}, "username": {"  "}}, http.StatusBadRequest, "Give your username"},
		{"a username too long", url.Values{"csrf_token": {tok}, "site": {"clinic-a"}, "username": {strings.Repeat("a", 51)}}, http.StatusBadRequest, "at most 50"},
		{"a note too long", url.Values{"csrf_token": {tok}, "site": {"clinic-a"}, "username": {"ana"}, "note": {strings.Repeat("n", 1025)}}, http.StatusBadRequest, "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := h.post("/request-reactivation", tc.form)
			if code != tc.wantCode || !strings.Contains(body, tc.wantText) {
				t.Fatalf("= %d, want %d containing %q:\n%s", code, tc.wantCode, tc.wantText, body)
			}
		})
	}
	if len(h.backend.changes) != 0 {
		t.Fatalf("refused requests reached the backend: %q", h.backend.changes)
	}
	if code, _, _ := h.get("/request-reactivation?site=nowhere"); code != http.StatusNotFound {
		t.Fatalf("the form of an unknown site answered %d", code)
	}
}

// TestPublicRequestRateLimits: per client address, and per site whatever the address.
func TestPublicRequestRateLimits(t *testing.T) {
	h, mux := newRequestsHarness(t, admin.RequestLimits{PerIP: 1, PerIPBurst: 2, PerSite: 1, PerSiteBurst: 4, MinAnswer: time.Millisecond})
	// One anonymous session and its token, sent from whichever address the test says.
	get := httptest.NewRequest(http.MethodGet, "/request-reactivation?site=clinic-a", nil)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, get)
	cookies := rec.Result().Cookies()
	tok := csrfInput.FindStringSubmatch(rec.Body.String())[1]
	post := func(site, ip string) int {
		form := url.Values{"csrf_token": {tok}, "site": {site}, "username": {"ana"}}
		r := httptest.NewRequest(http.MethodPost, "/request-reactivation", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = net.JoinHostPort(ip, "40000")
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		return w.Code
	}
	steps := []struct {
		name     string
		site, ip string
		want     int
	}{
		{"first from an address", "clinic-a", "192.0.2.1", http.StatusOK},
		{"second from it (the burst)", "clinic-a", "192.0.2.1", http.StatusOK},
		{"third from it is too many", "clinic-a", "192.0.2.1", http.StatusTooManyRequests},
		{"another address is let through", "clinic-a", "192.0.2.2", http.StatusOK},
		{"the same address at another site has its own bucket", "clinic-b", "192.0.2.1", http.StatusOK},
		{"the site's fourth", "clinic-a", "192.0.2.3", http.StatusOK},
		{"the site's fifth, from a fresh address, is too many for the site", "clinic-a", "192.0.2.4", http.StatusTooManyRequests},
		{"IPv6 addresses are limited too", "clinic-b", "2001:db8::1", http.StatusOK},
	}
	for _, s := range steps {
		if got := post(s.site, s.ip); got != s.want {
			t.Errorf("%s: %d, want %d", s.name, got, s.want)
		}
	}
	if n := len(h.backend.changes); n != 6 || !strings.HasSuffix(h.backend.changes[5], "from 2001:db8::1") {
		t.Errorf("%d requests reached the backend, want 6, the last from 2001:db8::1: %q", n, h.backend.changes)
	}
}

func TestRequestQueue(t *testing.T) {
	h, _ := newRequestsHarness(t, admin.RequestLimits{})
	if code, _, hdr := h.get("/sites/clinic-a/requests"); code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/signin") {
		t.Fatalf("the queue without sign-in = %d %v", code, hdr)
	}
	h.signIn("manager", "Manager123")
	code, body, _ := h.get("/sites/clinic-a/requests")
	if code != http.StatusOK || !strings.Contains(body, "back from leave") || !strings.Contains(body, "no such account") ||
		strings.Contains(body, "<script>x") || !strings.Contains(body, "left the clinic") {
		t.Fatalf("queue = %d\n%s", code, body)
	}
	// An unknown account cannot be approved, only rejected.
	if strings.Contains(body, "/requests/r2/approve") || !strings.Contains(body, "/requests/r1/approve") {
		t.Errorf("approve buttons are wrong:\n%s", body)
	}
	tok := h.csrf("/sites/clinic-a/requests")
	tests := []struct {
		name, path string
		form       url.Values
		want       string
	}{
		{"approve", "/sites/clinic-a/requests/r1/approve", url.Values{"csrf_token": {tok}}, "approve request r1 by manager"},
		{"reject without a reason changes nothing", "/sites/clinic-a/requests/r2/reject", url.Values{"csrf_token": {tok}}, ""},
		{"reject with a reason", "/sites/clinic-a/requests/r2/reject", url.Values{"csrf_token": {tok}, "reason": {"no such person"}}, "reject request r2 by manager: no such person"},
		{"no token, no change", "/sites/clinic-a/requests/r1/approve", url.Values{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(h.backend.changes)
			h.post(tc.path, tc.form)
			got := ""
			if len(h.backend.changes) > n {
				got = h.backend.changes[n]
			}
			if got != tc.want {
				t.Fatalf("backend change = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAuditPages(t *testing.T) {
	h, _ := newRequestsHarness(t, admin.RequestLimits{})
	h.signIn("manager", "Manager123")
	tests := []struct {
		path     string
		wantCode int
		want     string
		wantType string
	}{
		{"/sites/clinic-a/audit", http.StatusOK, `id="audit-form"`, "text/html"},
		{"/sites/clinic-a/audit/report?from=2026-01-01&to=2026-03-31", http.StatusOK, "Account retirement audit: site clinic-a", "text/html"},
		{"/sites/clinic-a/audit.csv?from=2026-01-01&to=2026-03-31", http.StatusOK, "clinic-a,'=evil,u1", "text/csv"},
		{"/sites/clinic-a/audit/report?from=2026-01-01&to=soon", http.StatusBadRequest, "is not a date", "text/html"},
		{"/sites/clinic-a/audit/report?from=2026-03-01&to=2026-01-01", http.StatusBadRequest, "ends before it starts", "text/html"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			code, body, hdr := h.get(tc.path)
			if code != tc.wantCode || !strings.Contains(body, tc.want) || !strings.HasPrefix(hdr.Get("Content-Type"), tc.wantType) {
				t.Fatalf("= %d %s, want %d %s containing %q:\n%s", code, hdr.Get("Content-Type"), tc.wantCode, tc.wantType, tc.want, body)
			}
		})
	}
	// The period's last day is included: the backend is asked up to the day after.
	if !strings.Contains(strings.Join(h.backend.changes, "\n"), "audit clinic-a 2026-01-01 2026-04-01") {
		t.Errorf("backend calls: %q", h.backend.changes)
	}
}
