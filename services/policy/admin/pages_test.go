package admin_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dormant-dev/dormant/services/policy/admin"
)

func TestEveryPageRendersForASignedInAdmin(t *testing.T) {
	h, _ := newHarness(t)
	h.signIn("manager", "Manager123")
	pages := []struct{ path, want string }{
		{"/sites/clinic-a/", `id="tile-active"`},
		{"/sites/clinic-a/upcoming", "120 users, page 1 of 3"},
		{"/sites/clinic-a/upcoming?page=3&sort=user", "page 3 of 3"},
		{"/sites/clinic-a/upcoming?q=user007", "1 users"},
		{"/sites/clinic-a/warnings", "14 days left"},
		{"/sites/clinic-a/retired", "Reactivate"},
		{"/sites/clinic-a/held", "Approve"},
		{"/sites/clinic-a/exemptions", "Add exemption"},
		{"/sites/clinic-a/history", "Export as CSV"},
		{"/sites/clinic-a/policy", "inactive_after"},
		{"/sites/clinic-a/policy?at=2027-01-01&inactive_after=30d", "no login since 30d"},
		{"/sites/clinic-a/policy?at=2027-01-01&inactive_after=bad", "is not a duration"},
	}
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			code, body, _ := h.get(p.path)
			if code != http.StatusOK || !strings.Contains(body, p.want) {
				t.Fatalf("GET %s = %d, want 200 containing %q", p.path, code, p.want)
			}
		})
	}
}

func TestPagesOfAnotherSiteAreClosed(t *testing.T) {
	h, _ := newHarness(t)
	h.signIn("manager", "Manager123")
	code, _, hdr := h.get("/sites/clinic-b/upcoming")
	if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/signin?site=clinic-b") {
		t.Fatalf("another site's page: %d to %q, want a redirect to sign in there", code, hdr.Get("Location"))
	}
}

func TestChangesNameTheAdminAndNeedTheToken(t *testing.T) {
	h, _ := newHarness(t)
	h.signIn("manager", "Manager123")
	_, body, _ := h.get("/sites/clinic-a/held")
	tok := csrfInput.FindStringSubmatch(body)[1]
	steps := []struct {
		path       string
		form       url.Values
		wantChange string
		wantShown  string
	}{
		{"/sites/clinic-a/held/b1/approve", url.Values{}, "approve b1 by manager", "approved"},
		{"/sites/clinic-a/held/b1/reject", url.Values{}, "", "decided already"},
		{"/sites/clinic-a/exemptions", url.Values{"user": {"alice"}, "reason": {"transfer"}, "until": {"2999-01-01"}}, "exempt alice by manager: transfer", "exemption was added"},
		{"/sites/clinic-a/exemptions", url.Values{"user": {"alice"}, "reason": {"transfer"}, "until": {"2001-01-01"}}, "", "in the past"},
		{"/sites/clinic-a/exemptions", url.Values{"user": {"alice"}}, "", "give the reason"},
		{"/sites/clinic-a/exemptions/uuid-a/end", url.Values{}, "end uuid-a by manager", "exemption ended"},
		{"/sites/clinic-a/users/uuid-r/reactivate", url.Values{"reason": {"came back"}}, "reactivate uuid-r by manager: came back", "reactivated"},
		{"/sites/clinic-a/users/uuid-r/reactivate", url.Values{}, "", "say why"},
	}
	for _, st := range steps {
		before := len(h.backend.changes)
		st.form.Set("csrf_token", tok)
		code, _, hdr := h.post(st.path, st.form)
		if code != http.StatusSeeOther {
			t.Fatalf("POST %s = %d", st.path, code)
		}
		_, page, _ := h.get(hdr.Get("Location"))
		if !strings.Contains(page, st.wantShown) {
			t.Errorf("after POST %s the page does not say %q", st.path, st.wantShown)
		}
		got := h.backend.changes[before:]
		if (st.wantChange == "") != (len(got) == 0) || (st.wantChange != "" && !strings.HasPrefix(got[0], st.wantChange)) {
			t.Errorf("POST %s changed %q, want %q", st.path, got, st.wantChange)
		}
		// Without the token nothing changes.
		st.form.Del("csrf_token")
		if code, _, _ := h.post(st.path, st.form); code != http.StatusForbidden {
			t.Errorf("POST %s without a token = %d, want 403", st.path, code)
		}
	}
}

func TestHistoryCSVDefusesFormulas(t *testing.T) {
	h, _ := newHarness(t)
	h.signIn("manager", "Manager123")
	code, body, hdr := h.get("/sites/clinic-a/history.csv")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV: %d %s", code, hdr.Get("Content-Type"))
	}
	if !strings.Contains(body, "'=cmd|calc") || strings.Contains(body, ",=cmd") {
		t.Fatalf("a formula in a username reached the CSV unescaped:\n%s", body)
	}
}

func TestAPI(t *testing.T) {
	h, _ := newHarness(t)
	do := func(method, path, csrf string, body any) (int, map[string]any) {
		t.Helper()
		var buf bytes.Buffer
		if body != nil {
			_ = json.NewEncoder(&buf).Encode(body)
		}
		req, _ := http.NewRequest(method, h.srv.URL+path, &buf)
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, _ := do("GET", "/api/v1/sites/clinic-a/overview", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("unsigned API call = %d, want 401", code)
	}
	if code, _ := do("POST", "/api/v1/session", "", map[string]string{"site": "clinic-a", "username": "clerk", "password": "Clerk1234"}); code != http.StatusForbidden {
		t.Fatalf("sign-in without Edit Users = %d, want 403", code)
	}
	code, out := do("POST", "/api/v1/session", "", map[string]string{"site": "clinic-a", "username": "manager", "password": "Manager123"})
	if code != http.StatusOK || out["csrf_token"] == "" {
		t.Fatalf("API sign-in = %d %v", code, out)
	}
	tok := out["csrf_token"].(string)
	if code, out := do("GET", "/api/v1/sites/clinic-a/overview", "", nil); code != http.StatusOK || out["ActiveUsers"] != float64(42) {
		t.Fatalf("overview = %d %v", code, out)
	}
	if code, _ := do("POST", "/api/v1/sites/clinic-a/held/b1/approve", "", nil); code != http.StatusForbidden {
		t.Fatalf("change without X-CSRF-Token = %d, want 403", code)
	}
	if code, _ := do("POST", "/api/v1/sites/clinic-a/held/b1/approve", tok, nil); code != http.StatusOK {
		t.Fatalf("approve = %d", code)
	}
	if code, out := do("POST", "/api/v1/sites/clinic-a/exemptions", tok, map[string]string{"user": "alice"}); code != http.StatusUnprocessableEntity {
		t.Fatalf("exemption without reason = %d %v, want 422", code, out)
	}
	if code, _ := do("POST", "/api/v1/sites/clinic-a/exemptions", tok, map[string]any{"user": "alice", "reason": "x", "color": "red"}); code != http.StatusBadRequest {
		t.Fatalf("unknown field = %d, want 400", code)
	}
	if code, _ := do("GET", "/api/v1/sites/clinic-b/overview", "", nil); code != http.StatusForbidden {
		t.Fatalf("another site = %d, want 403", code)
	}
	if code, _ := do("DELETE", "/api/v1/session", tok, nil); code != http.StatusOK {
		t.Fatalf("sign-out = %d", code)
	}
	if code, _ := do("GET", "/api/v1/sites/clinic-a/overview", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("after sign-out = %d, want 401", code)
	}
}

// TestTheUpcomingPageAsksItsBackendForOnePage: the search, sort and page of the URL go to
// the backend (which pages in its store), cleaned; what cannot be searched is refused
// before the backend is asked.
func TestTheUpcomingPageAsksItsBackendForOnePage(t *testing.T) {
	h, _ := newHarness(t)
	backend := h.backend
	h.signIn("manager", "Manager123")
	tests := []struct {
		rule, query string
		code        int
		want        *admin.UpcomingQuery // nil: the backend is not asked
		shown       []string
	}{
		{"no parameters: the first page of fifty, soonest first", "", http.StatusOK,
			&admin.UpcomingQuery{Page: 1, PageSize: 50}, []string{"120 users, page 1 of 3", `href="?page=2"`}},
		{"the search is trimmed and the sort kept in the links", "?q=+user1+&sort=user&page=2", http.StatusOK,
			&admin.UpcomingQuery{Search: "user1", Sort: "user", Page: 2, PageSize: 50}, []string{"20 users", `value="user" selected`}},
		{"an unknown sort shows the default order", "?sort=password", http.StatusOK,
			&admin.UpcomingQuery{Page: 1, PageSize: 50}, []string{`value="" selected`}},
		{"a page that is not a number is the first", "?page=x", http.StatusOK,
			&admin.UpcomingQuery{Page: 1, PageSize: 50}, []string{"page 1 of 3"}},
		{"a negative page is the first", "?page=-4", http.StatusOK,
			&admin.UpcomingQuery{Page: 1, PageSize: 50}, []string{"page 1 of 3"}},
		{"a page past the last shows the last, with a link back", "?page=9&sort=login", http.StatusOK,
			&admin.UpcomingQuery{Sort: "login", Page: 9, PageSize: 50}, []string{"page 3 of 3", `href="?page=2&amp;sort=login"`}},
		{"wildcards are searched as they are", "?q=%25_", http.StatusOK,
			&admin.UpcomingQuery{Search: "%_", Page: 1, PageSize: 50}, []string{"0 users", "Nobody is due"}},
		{"a search longer than 200 characters is refused", "?q=" + strings.Repeat("a", 201), http.StatusBadRequest,
			nil, []string{"longer than 200 characters"}},
		{"a search with control characters is refused", "?q=a%00b", http.StatusBadRequest,
			nil, []string{"control characters"}},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			before := len(backend.upcomingQueries)
			code, body, _ := h.get("/sites/clinic-a/upcoming" + tc.query)
			if code != tc.code {
				t.Fatalf("answered %d, want %d", code, tc.code)
			}
			for _, s := range tc.shown {
				if !strings.Contains(body, s) {
					t.Errorf("the page does not show %q", s)
				}
			}
			asked := backend.upcomingQueries[before:]
			switch {
			case tc.want == nil && len(asked) != 0:
				t.Fatalf("the backend was asked %+v", asked)
			case tc.want != nil && (len(asked) != 1 || asked[0] != *tc.want):
				t.Fatalf("the backend was asked %+v, want %+v", asked, *tc.want)
			}
		})
	}
}
