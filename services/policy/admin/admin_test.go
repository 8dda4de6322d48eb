package admin_test

import (
	"context"
	"fmt"
	"io"
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
)

// memBackend is the page's data source in these tests, which are about who may see and
// change what and how the pages present it; the policy service's own backend is exercised by
// the service's browser tests.
type memBackend struct {
	o       admin.Overview
	changes []string
	// upcomingQueries records what the upcoming page asked for.
	upcomingQueries []admin.UpcomingQuery
}

func (b *memBackend) Overview(context.Context, string, time.Time) (admin.Overview, error) {
	return b.o, nil
}

// Upcoming pages 120 users, soonest (uuid-119) first, as a store does; the stores'
// conformance suite holds the real search and sort.
func (b *memBackend) Upcoming(_ context.Context, _ string, _ time.Time, q admin.UpcomingQuery) (admin.UpcomingPage, error) {
	b.upcomingQueries = append(b.upcomingQueries, q)
	var rows []admin.Upcoming
	for i := 119; i >= 0; i-- {
		u := admin.Upcoming{UserUUID: fmt.Sprintf("uuid-%03d", i), Username: fmt.Sprintf("user%03d", i),
			Rule: "inactive_after", Reason: "no login", DeactivateOn: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -i)}
		if strings.Contains(u.Username+" "+u.UserUUID, strings.ToLower(q.Search)) && (q.UserUUID == "" || q.UserUUID == u.UserUUID) {
			rows = append(rows, u)
		}
	}
	p := admin.UpcomingPage{Total: len(rows), Page: 1, Pages: 1, Rows: rows}
	if q.PageSize > 0 {
		p.Pages = max(1, (len(rows)+q.PageSize-1)/q.PageSize)
		p.Page = min(max(q.Page, 1), p.Pages)
		p.Rows = rows[(p.Page-1)*q.PageSize : min(p.Page*q.PageSize, len(rows))]
	}
	return p, nil
}
func (b *memBackend) History(_ context.Context, _ string, f admin.HistoryFilter) ([]admin.HistoryRow, error) {
	return []admin.HistoryRow{{At: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Kind: "warned", Username: "=cmd|calc", Reason: "14 days left"}}, nil
}
func (b *memBackend) Retired(context.Context, string) ([]admin.Retired, error) {
	return []admin.Retired{{UserUUID: "uuid-r", Username: "gone", Reason: "inactive"}}, nil
}
func (b *memBackend) Reactivate(_ context.Context, site, user, by, reason string) error {
	b.changes = append(b.changes, "reactivate "+user+" by "+by+": "+reason)
	return nil
}
func (b *memBackend) HeldBatches(context.Context, string) ([]admin.Held, error) {
	return []admin.Held{{BatchID: "b1", Status: "pending", Reason: "too many", Users: []admin.HeldUser{{Username: "x"}}}}, nil
}
func (b *memBackend) ApproveHeld(_ context.Context, site, batch, by string) error {
	b.changes = append(b.changes, "approve "+batch+" by "+by)
	return nil
}
func (b *memBackend) RejectHeld(_ context.Context, site, batch, by string) error {
	return fmt.Errorf("%w: batch %s was decided already", admin.ErrInvalid, batch)
}
func (b *memBackend) Exemptions(context.Context, string, time.Time) ([]admin.ExemptionRow, error) {
	return nil, nil
}
func (b *memBackend) AddExemption(_ context.Context, site, user, reason string, until *time.Time, by string) error {
	b.changes = append(b.changes, fmt.Sprintf("exempt %s by %s: %s until %v", user, by, reason, until))
	return nil
}
func (b *memBackend) EndExemption(_ context.Context, site, user, by string) error {
	b.changes = append(b.changes, "end "+user+" by "+by)
	return nil
}
func (b *memBackend) Policy(context.Context, string) (admin.PolicyView, error) {
	return admin.PolicyView{Version: "v1", Settings: []admin.Setting{{Key: "inactive_after", Value: "90d", Source: "default"}}}, nil
}
func (b *memBackend) WhatIf(_ context.Context, _ string, at time.Time, o map[string]string) (admin.WhatIf, error) {
	if o["inactive_after"] == "bad" {
		return admin.WhatIf{}, fmt.Errorf("%w: inactive_after %q is not a duration", admin.ErrInvalid, "bad")
	}
	return admin.WhatIf{At: at, Version: "v2", Outcomes: []admin.Preview{{Username: "alice", Outcome: "retire", Reason: "no login since " + o["inactive_after"]}}}, nil
}

type harness struct {
	t       *testing.T
	srv     *httptest.Server
	client  *http.Client
	backend *memBackend
}

func newHarness(t *testing.T) (*harness, *openmrstest.Server) {
	t.Helper()
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	fake.AddRole("Clerk", "Get Users")
	fake.AddRole("User Manager", "Get Users", "Edit Users")
	fake.AddUser(openmrstest.UserSpec{Username: "manager", Password: "Manager123", Roles: []string{"User Manager"}})
	fake.AddUser(openmrstest.UserSpec{Username: "clerk", Password: "Clerk1234", Roles: []string{"Clerk"}})
	c, err := openmrs.New(openmrs.Config{BaseURL: fake.URL(), Username: "admin", Password: "Admin123"})
	if err != nil {
		t.Fatal(err)
	}
	auth := admin.OpenMRSAuth{Sites: map[string]admin.CredentialChecker{"clinic-a": c}}
	backend := &memBackend{o: admin.Overview{ActiveUsers: 42, AgeBuckets: []int{1, 1, 0, 0, 0, 0, 1}, AgeBucketDays: admin.AgeBucketDays, Thresholds: []admin.Threshold{{Label: "retire", Days: 90}}}}
	s, err := admin.New(admin.Config{SessionKey: []byte("0123456789abcdef0123456789abcdef"), Sites: []string{"clinic-a"}},
		auth, backend, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &harness{t: t, srv: srv, client: client, backend: backend}, fake
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (h *harness) get(path string) (int, string, http.Header) {
	h.t.Helper()
	resp, err := h.client.Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (h *harness) post(path string, form url.Values) (int, string, http.Header) {
	h.t.Helper()
	resp, err := h.client.PostForm(h.srv.URL+path, form)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// csrf loads the sign-in form and returns its token.
func (h *harness) csrf(path string) string {
	h.t.Helper()
	_, body, _ := h.get(path)
	m := csrfInput.FindStringSubmatch(body)
	if m == nil {
		h.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

func (h *harness) signIn(user, password string) (int, string, http.Header) {
	h.t.Helper()
	tok := h.csrf("/signin")
	return h.post("/signin", url.Values{"csrf_token": {tok}, "site": {"clinic-a"}, "username": {user}, "password": {password}})
}

func TestSignIn(t *testing.T) {
	tests := []struct {
		name, user, password string
		wantCode             int
		wantText             string
	}{
		{"an admin with Edit Users signs in", "manager", "Manager123", http.StatusSeeOther, ""},
		{"a wrong password is refused", "manager", "nope", http.StatusUnauthorized, "wrong username or password"},
		{"an unknown user is refused the same way", "ghost", "whatever1", http.StatusUnauthorized, "wrong username or password"},
		{"a user without Edit Users is refused", "clerk", "Clerk1234", http.StatusForbidden, "Edit Users"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHarness(t)
			code, body, hdr := h.signIn(tc.user, tc.password)
			if code != tc.wantCode || !strings.Contains(body, tc.wantText) {
				t.Fatalf("sign-in = %d %q, want %d containing %q", code, body, tc.wantCode, tc.wantText)
			}
			// Only a signed-in admin reaches the overview.
			code, body, _ = h.get("/sites/clinic-a/")
			signedIn := code == http.StatusOK && strings.Contains(body, `id="tile-active">42<`)
			if signedIn != (tc.wantCode == http.StatusSeeOther) {
				t.Fatalf("overview answered %d (signed in: %v) after sign-in %d", code, signedIn, tc.wantCode)
			}
			if tc.wantCode == http.StatusSeeOther && hdr.Get("Location") != "/sites/clinic-a/" {
				t.Fatalf("redirected to %q", hdr.Get("Location"))
			}
		})
	}
}

func TestFormsNeedTheSessionsCSRFToken(t *testing.T) {
	h, _ := newHarness(t)
	if code, _, _ := h.signIn("manager", "Manager123"); code != http.StatusSeeOther {
		t.Fatalf("sign-in %d", code)
	}
	other, _ := newHarness(t)
	foreign := other.csrf("/signin")
	tests := []struct {
		name  string
		token string
	}{
		{"no token", ""},
		{"a made-up token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"a token from another session", foreign},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{}
			if tc.token != "" {
				form.Set("csrf_token", tc.token)
			}
			if code, _, _ := h.post("/signout", form); code != http.StatusForbidden {
				t.Fatalf("sign-out with %s answered %d, want 403", tc.name, code)
			}
			if code, _, _ := h.get("/sites/clinic-a/"); code != http.StatusOK {
				t.Fatal("the refused form signed the admin out anyway")
			}
		})
	}
	// The sign-in form is protected too.
	code, _, _ := h.post("/signin", url.Values{"site": {"clinic-a"}, "username": {"manager"}, "password": {"Manager123"}})
	if code != http.StatusForbidden {
		t.Fatalf("sign-in without a token answered %d, want 403", code)
	}
}

func TestTamperedSessionCookieIsRefused(t *testing.T) {
	h, _ := newHarness(t)
	if code, _, _ := h.signIn("manager", "Manager123"); code != http.StatusSeeOther {
		t.Fatalf("sign-in %d", code)
	}
	u, _ := url.Parse(h.srv.URL)
	var value string
	for _, c := range h.client.Jar.Cookies(u) {
		if c.Name == "dormant_session" {
			value = c.Value
		}
	}
	if value == "" {
		t.Fatal("no session cookie")
	}
	// Flip one character in the middle of the sealed value.
	b := []byte(value)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, []*http.Cookie{{Name: "dormant_session", Value: string(b), Path: "/"}})
	h.client.Jar = jar
	code, _, hdr := h.get("/sites/clinic-a/")
	if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/signin") {
		t.Fatalf("tampered cookie: %d to %q, want a redirect to sign-in", code, hdr.Get("Location"))
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	h, _ := newHarness(t)
	h.signIn("manager", "Manager123")
	_, body, _ := h.get("/sites/clinic-a/")
	tok := csrfInput.FindStringSubmatch(body)[1]
	if code, _, _ := h.post("/signout", url.Values{"csrf_token": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("sign-out %d", code)
	}
	if code, _, _ := h.get("/sites/clinic-a/"); code != http.StatusSeeOther {
		t.Fatalf("after sign-out the overview answered %d", code)
	}
}

func TestSignInNeverRedirectsOffSite(t *testing.T) {
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"} {
		h, _ := newHarness(t)
		tok := h.csrf("/signin")
		_, _, hdr := h.post("/signin", url.Values{"csrf_token": {tok}, "site": {"clinic-a"}, "username": {"manager"}, "password": {"Manager123"}, "next": {next}})
		if loc := hdr.Get("Location"); loc != "/sites/clinic-a/" {
			t.Fatalf("next %q redirected to %q, want the site's overview", next, loc)
		}
	}
}

func TestOverviewShowsTheChartWithThresholds(t *testing.T) {
	h, _ := newHarness(t)
	h.signIn("manager", "Manager123")
	_, body, hdr := h.get("/sites/clinic-a/")
	for _, want := range []string{`<svg class="chart"`, `class="threshold"`, ">retire<", "0–14 days: 1 users", "15–29 days: 1 users", "30–44 days: 0 users", "90–104 days: 1 users", "180 days or more: 0 users"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("no content security policy: %q", csp)
	}
}

func TestSignInReturnsToTheLocalPageAsked(t *testing.T) {
	h, _ := newHarness(t)
	tok := h.csrf("/signin")
	_, _, hdr := h.post("/signin", url.Values{"csrf_token": {tok}, "site": {"clinic-a"}, "username": {"manager"}, "password": {"Manager123"}, "next": {"/sites/clinic-a/?from=link"}})
	if loc := hdr.Get("Location"); loc != "/sites/clinic-a/?from=link" {
		t.Fatalf("redirected to %q", loc)
	}
}
