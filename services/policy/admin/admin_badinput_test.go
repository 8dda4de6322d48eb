package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const xss = `<script>alert(1)</script>`

// TestBadInputOnAdminForms: a hostile or broken form is refused (403 without its CSRF token,
// otherwise back to the page with the reason shown), changes nothing, and whatever the page
// echoes back is escaped.
func TestBadInputOnAdminForms(t *testing.T) {
	h, _ := newHarness(t)
	if code, _, _ := h.signIn("manager", "Manager123"); code != http.StatusSeeOther {
		t.Fatalf("sign-in %d", code)
	}
	_, page, _ := h.get("/sites/clinic-a/held")
	tok := csrfInput.FindStringSubmatch(page)[1]
	other, _ := newHarness(t)
	foreign := other.csrf("/signin")
	exempt := func(user, reason, until string) url.Values {
		return url.Values{"csrf_token": {tok}, "user": {user}, "reason": {reason}, "until": {until}}
	}
	tests := []struct {
		rule   string
		path   string
		form   url.Values
		status int    // 303 back to the page, or the refusal
		shown  string // what the page then says
	}{
		{"an exemption without the CSRF token is 403", "/sites/clinic-a/exemptions", url.Values{"user": {"alice"}, "reason": {"x"}}, http.StatusForbidden, ""},
		{"an exemption with another session's token is 403", "/sites/clinic-a/exemptions", url.Values{"csrf_token": {foreign}, "user": {"alice"}, "reason": {"x"}}, http.StatusForbidden, ""},
		{"a reactivation without the CSRF token is 403", "/sites/clinic-a/users/uuid-r/reactivate", url.Values{"reason": {"x"}}, http.StatusForbidden, ""},
		{"an approval for another site is sent to sign in there", "/sites/clinic-b/held/b1/approve", url.Values{"csrf_token": {tok}}, http.StatusSeeOther, "Sign in"},
		{"an end date in another format is refused", "/sites/clinic-a/exemptions", exempt("alice", "transfer", "31/12/2999"), http.StatusSeeOther, "is not a date"},
		{"an end date that does not exist is refused", "/sites/clinic-a/exemptions", exempt("alice", "transfer", "2999-02-30"), http.StatusSeeOther, "is not a date"},
		{"an end date far in the past is refused", "/sites/clinic-a/exemptions", exempt("alice", "transfer", "0001-01-01"), http.StatusSeeOther, "in the past"},
		{"a reason of 100,000 characters is refused", "/sites/clinic-a/exemptions", exempt("alice", strings.Repeat("a", 100000), ""), http.StatusSeeOther, "longer than"},
		{"a reason that is not UTF-8 is refused", "/sites/clinic-a/exemptions", exempt("alice", "transfer\xff\xfe", ""), http.StatusSeeOther, "not valid text"},
		{"a reason holding NUL is refused", "/sites/clinic-a/exemptions", exempt("alice", "transfer\x00", ""), http.StatusSeeOther, "control characters"},
		{"a user name of 10,000 characters is refused", "/sites/clinic-a/exemptions", exempt(strings.Repeat("u", 10000), "transfer", ""), http.StatusSeeOther, "longer than"},
		{"a reactivation reason of 100,000 characters is refused", "/sites/clinic-a/users/uuid-r/reactivate", url.Values{"csrf_token": {tok}, "reason": {strings.Repeat("a", 100000)}}, http.StatusSeeOther, "longer than"},
		{"an exemption refused for its reason echoes the user escaped", "/sites/clinic-a/exemptions", exempt(xss, "", ""), http.StatusSeeOther, "give the reason"},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			before := len(h.backend.changes)
			code, body, hdr := h.post(tc.path, tc.form)
			if code != tc.status {
				t.Fatalf("POST %s = %d %q, want %d", tc.path, code, body, tc.status)
			}
			if tc.shown != "" {
				_, page, _ := h.get(hdr.Get("Location"))
				if !strings.Contains(page, tc.shown) {
					t.Errorf("the page does not say %q", tc.shown)
				}
				if strings.Contains(page, xss) {
					t.Error("the page echoes markup unescaped")
				}
			}
			if got := h.backend.changes[before:]; len(got) != 0 {
				t.Errorf("refused input changed %q", got)
			}
			if code, _, _ := h.get("/sites/clinic-a/"); code != http.StatusOK {
				t.Fatalf("after the bad form the admin page answers %d", code)
			}
		})
	}

	// Query strings a page echoes back are escaped.
	for _, path := range []string{"/sites/clinic-a/exemptions?user=", "/sites/clinic-a/history?user=", "/sites/clinic-a/upcoming?q=", "/signin?next="} {
		t.Run("the page "+path+" escapes what it echoes", func(t *testing.T) {
			code, page, _ := h.get(path + url.QueryEscape(xss+`"><img src=x onerror=alert(1)>`))
			if code >= 500 {
				t.Fatalf("answered %d", code)
			}
			if strings.Contains(page, xss) || strings.Contains(page, "<img src=x") {
				t.Error("markup from the query is echoed unescaped")
			}
		})
	}
}

// TestBadInputOnTheAdminAPI: the JSON API refuses what it cannot use with 400 (not the
// body it documents), 401/403 (session, site, CSRF) or 422 (a rule), and changes nothing.
func TestBadInputOnTheAdminAPI(t *testing.T) {
	h, _ := newHarness(t)
	do := func(method, path, csrf string, body io.Reader) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, h.srv.URL+path, body)
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
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s %s: answer %d is not JSON: %v", method, path, resp.StatusCode, err)
		}
		if resp.StatusCode >= 400 && out["error"] == "" {
			t.Errorf("%s %s: %d says nothing of why", method, path, resp.StatusCode)
		}
		return resp.StatusCode, out
	}
	signIn := func(body string) int {
		code, _ := do("POST", "/api/v1/session", "", strings.NewReader(body))
		return code
	}
	for _, tc := range []struct {
		rule   string
		body   string
		status int
	}{
		{"a sign-in body that is not JSON is 400", `site=clinic-a&username=manager`, http.StatusBadRequest},
		{"a sign-in body with an unknown field is 400", `{"site":"clinic-a","username":"manager","password":"Manager123","admin":true}`, http.StatusBadRequest},
		{"a sign-in body over 16 KiB is 400", `{"site":"clinic-a","username":"manager","password":"` + strings.Repeat("p", 20000) + `"}`, http.StatusBadRequest},
		{"a sign-in with a password of the wrong type is 400", `{"site":"clinic-a","username":"manager","password":123}`, http.StatusBadRequest},
		{"a sign-in with an injection string for a username is 401", `{"site":"clinic-a","username":"admin' --","password":"x"}`, http.StatusUnauthorized},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if got := signIn(tc.body); got != tc.status {
				t.Fatalf("sign-in answered %d, want %d", got, tc.status)
			}
		})
	}

	code, out := do("POST", "/api/v1/session", "", strings.NewReader(`{"site":"clinic-a","username":"manager","password":"Manager123"}`))
	if code != http.StatusOK {
		t.Fatalf("API sign-in = %d %v", code, out)
	}
	tok := out["csrf_token"].(string)
	exemptions := "/api/v1/sites/clinic-a/exemptions"
	upcoming := "/api/v1/sites/clinic-a/upcoming"
	body := func(v any) io.Reader {
		b, _ := json.Marshal(v)
		return bytes.NewReader(b)
	}
	for _, tc := range []struct {
		rule   string
		method string
		path   string
		csrf   string
		body   io.Reader
		status int
	}{
		{"a change without X-CSRF-Token is 403", "POST", exemptions, "", body(map[string]string{"user": "alice", "reason": "x"}), http.StatusForbidden},
		{"a change with a made-up X-CSRF-Token is 403", "POST", exemptions, strings.Repeat("A", 43), body(map[string]string{"user": "alice", "reason": "x"}), http.StatusForbidden},
		{"a body that is not JSON is 400", "POST", exemptions, tok, strings.NewReader(`user=alice&reason=x`), http.StatusBadRequest},
		{"a body with an unknown field is 400", "POST", exemptions, tok, body(map[string]any{"user": "alice", "reason": "x", "by": "someone-else"}), http.StatusBadRequest},
		{"a body over 64 KiB is 400", "POST", exemptions, tok, body(map[string]string{"user": "alice", "reason": strings.Repeat("r", 70000)}), http.StatusBadRequest},
		{"deeply nested JSON is 400", "POST", exemptions, tok, strings.NewReader(strings.Repeat(`{"user":`, 12000)), http.StatusBadRequest},
		{"an until that is not a time is 400", "POST", exemptions, tok, body(map[string]string{"user": "alice", "reason": "x", "until": "tomorrow"}), http.StatusBadRequest},
		{"an until in the past is 422", "POST", exemptions, tok, body(map[string]string{"user": "alice", "reason": "x", "until": "2001-01-01T00:00:00Z"}), http.StatusUnprocessableEntity},
		{"a reason of the wrong type is 400", "POST", exemptions, tok, strings.NewReader(`{"user":"alice","reason":["x"]}`), http.StatusBadRequest},
		{"a reason of 50,000 characters is 422", "POST", exemptions, tok, body(map[string]string{"user": "alice", "reason": strings.Repeat("r", 50000)}), http.StatusUnprocessableEntity},
		{"a reason holding NUL is 422", "POST", exemptions, tok, body(map[string]string{"user": "alice", "reason": "x\x00y"}), http.StatusUnprocessableEntity},
		{"a reactivation reason of 50,000 characters is 422", "POST", "/api/v1/sites/clinic-a/users/uuid-r/reactivate", tok, body(map[string]string{"reason": strings.Repeat("r", 50000)}), http.StatusUnprocessableEntity},
		{"a change for another site is 403", "POST", "/api/v1/sites/clinic-b/exemptions", tok, body(map[string]string{"user": "alice", "reason": "x"}), http.StatusForbidden},
		{"a what-if at a time that is not RFC 3339 is 422", "GET", "/api/v1/sites/clinic-a/whatif?at=next+week", "", nil, http.StatusUnprocessableEntity},
		{"an upcoming page of -1 is 422", "GET", upcoming + "?page=-1", "", nil, http.StatusUnprocessableEntity},
		{"an upcoming page of 0 is 422", "GET", upcoming + "?page=0", "", nil, http.StatusUnprocessableEntity},
		{"an upcoming page past 1,000,000,000 is 422", "GET", upcoming + "?page=1000000001", "", nil, http.StatusUnprocessableEntity},
		{"an upcoming page too big for an integer is 422", "GET", upcoming + "?page=" + strings.Repeat("9", 40), "", nil, http.StatusUnprocessableEntity},
		{"an upcoming page that is not a number is 422", "GET", upcoming + "?page=2.5", "", nil, http.StatusUnprocessableEntity},
		{"an upcoming per_page of 0 is 422", "GET", upcoming + "?per_page=0", "", nil, http.StatusUnprocessableEntity},
		{"an upcoming per_page over 1000 is 422", "GET", upcoming + "?per_page=1001", "", nil, http.StatusUnprocessableEntity},
		{"an upcoming per_page of -50 is 422", "GET", upcoming + "?per_page=-50", "", nil, http.StatusUnprocessableEntity},
		{"an unknown upcoming sort is 422", "GET", upcoming + "?sort=password", "", nil, http.StatusUnprocessableEntity},
		{"an upcoming sort in SQL is 422", "GET", upcoming + "?sort=" + url.QueryEscape("username; DROP TABLE users"), "", nil, http.StatusUnprocessableEntity},
		{"an upcoming search of 201 characters is 422", "GET", upcoming + "?q=" + strings.Repeat("a", 201), "", nil, http.StatusUnprocessableEntity},
		{"an upcoming search of 100,000 characters is 422", "GET", upcoming + "?q=" + strings.Repeat("é", 100000), "", nil, http.StatusUnprocessableEntity},
		{"an upcoming search holding NUL is 422", "GET", upcoming + "?q=a%00b", "", nil, http.StatusUnprocessableEntity},
		{"an upcoming search holding ESC is 422", "GET", upcoming + "?q=a%1b[2Jb", "", nil, http.StatusUnprocessableEntity},
		{"an upcoming search that is not UTF-8 is 422", "GET", upcoming + "?q=a%ff%fe", "", nil, http.StatusUnprocessableEntity},
		{"the upcoming list of another site is 403", "GET", "/api/v1/sites/clinic-b/upcoming", "", nil, http.StatusForbidden},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			before := len(h.backend.changes)
			asked := len(h.backend.upcomingQueries)
			if code, out := do(tc.method, tc.path, tc.csrf, tc.body); code != tc.status {
				t.Fatalf("%s %s = %d %v, want %d", tc.method, tc.path, code, out, tc.status)
			}
			if got := h.backend.changes[before:]; len(got) != 0 {
				t.Errorf("refused input changed %q", got)
			}
			// Refused before the store is asked: a bad page costs nothing at a national site.
			if got := h.backend.upcomingQueries[asked:]; len(got) != 0 {
				t.Errorf("refused input asked the store for the upcoming list %+v", got)
			}
		})
	}
	// The session still works after all of it.
	if code, _ := do("GET", "/api/v1/sites/clinic-a/overview", "", nil); code != http.StatusOK {
		t.Fatalf("overview after the bad requests = %d", code)
	}
}
