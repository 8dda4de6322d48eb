package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// apiClient calls the JSON API as a script would: JSON in, JSON out, the CSRF token in a
// header.
type apiClient struct {
	t      *testing.T
	h      *harness
	client *http.Client
}

func (c apiClient) do(method, path, csrf string, body io.Reader) (int, any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.h.srv.URL+path, body)
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatalf("%s %s: answer %d is not JSON: %v", method, path, resp.StatusCode, err)
	}
	if resp.StatusCode >= 400 {
		if m, _ := out.(map[string]any); m == nil || m["error"] == "" || m["error"] == nil {
			c.t.Errorf("%s %s: %d says nothing of why: %v", method, path, resp.StatusCode, out)
		}
	}
	return resp.StatusCode, out
}

// signIn signs in through the API and returns the CSRF token.
func (c apiClient) signIn() string {
	c.t.Helper()
	code, out := c.do("POST", "/api/v1/session", "", strings.NewReader(`{"site":"clinic-a","username":"manager","password":"Manager123"}`))
	if code != http.StatusOK {
		c.t.Fatalf("API sign-in = %d %v", code, out)
	}
	return out.(map[string]any)["csrf_token"].(string)
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// TestAuditAndRequestsAPI: the audit evidence and the reactivation requests have the same
// JSON API as the rest of the page: read with a session, change with its CSRF token, and
// every change names the admin.
func TestAuditAndRequestsAPI(t *testing.T) {
	h, _ := newHarness(t)
	c := apiClient{t: t, h: h, client: h.client}
	tok := c.signIn()

	code, out := c.do("GET", "/api/v1/sites/clinic-a/audit?from=2026-01-01&to=2026-01-31", "", nil)
	if rep, _ := out.(map[string]any); code != http.StatusOK || rep["Site"] != "clinic-a" || len(rep["Cases"].([]any)) != 1 {
		t.Fatalf("audit = %d %v", code, out)
	}
	if got := h.backend.changes[len(h.backend.changes)-1]; got != "audit clinic-a 2026-01-01 2026-02-01" {
		t.Fatalf("the backend was asked for %q, want the period with its last day included", got)
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"r1", "r2", "r0"}},
		{"?status=pending", []string{"r1", "r2"}},
		{"?status=rejected", []string{"r0"}},
		{"?status=approved", nil},
	} {
		code, out := c.do("GET", "/api/v1/sites/clinic-a/requests"+tc.query, "", nil)
		list, ok := out.([]any)
		if code != http.StatusOK || !ok {
			t.Fatalf("requests%s = %d %v, want a JSON list", tc.query, code, out)
		}
		var ids []string
		for _, r := range list {
			ids = append(ids, r.(map[string]any)["ID"].(string))
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("requests%s = %v, want %v", tc.query, ids, tc.want)
		}
	}

	if code, out := c.do("POST", "/api/v1/sites/clinic-a/requests/r1/approve", tok, nil); code != http.StatusOK {
		t.Fatalf("approve = %d %v", code, out)
	}
	if code, out := c.do("POST", "/api/v1/sites/clinic-a/requests/r2/reject", tok, jsonBody(map[string]string{"reason": "  not one of ours "})); code != http.StatusOK {
		t.Fatalf("reject = %d %v", code, out)
	}
	want := []string{"approve request r1 by manager", "reject request r2 by manager: not one of ours"}
	if got := h.backend.changes[len(h.backend.changes)-2:]; !slices.Equal(got, want) {
		t.Fatalf("changes = %q, want %q", got, want)
	}
}

// TestBadInputOnTheAuditAndRequestsAPI: what the audit and request endpoints cannot use is
// refused with 400 (not the documented body), 401/403 (session, site, CSRF) or 422 (a
// rule), and reaches no backend call.
func TestBadInputOnTheAuditAndRequestsAPI(t *testing.T) {
	h, _ := newHarness(t)
	c := apiClient{t: t, h: h, client: h.client}
	tok := c.signIn()
	jar, _ := cookiejar.New(nil)
	anon := apiClient{t: t, h: h, client: &http.Client{Jar: jar}}
	const (
		audit    = "/api/v1/sites/clinic-a/audit"
		requests = "/api/v1/sites/clinic-a/requests"
		approve  = "/api/v1/sites/clinic-a/requests/r1/approve"
		reject   = "/api/v1/sites/clinic-a/requests/r2/reject"
	)
	reason := func(r string) io.Reader { return jsonBody(map[string]string{"reason": r}) }
	for _, tc := range []struct {
		rule   string
		client apiClient
		method string
		path   string
		csrf   string
		body   io.Reader
		status int
	}{
		{"the audit without a session is 401", anon, "GET", audit + "?from=2026-01-01&to=2026-01-31", "", nil, http.StatusUnauthorized},
		{"the requests without a session are 401", anon, "GET", requests, "", nil, http.StatusUnauthorized},
		{"an approval without a session is 401", anon, "POST", approve, tok, nil, http.StatusUnauthorized},
		{"another site's audit is 403", c, "GET", "/api/v1/sites/clinic-b/audit?from=2026-01-01&to=2026-01-31", "", nil, http.StatusForbidden},
		{"another site's requests are 403", c, "GET", "/api/v1/sites/clinic-b/requests", "", nil, http.StatusForbidden},
		{"an approval at another site is 403", c, "POST", "/api/v1/sites/clinic-b/requests/r1/approve", tok, nil, http.StatusForbidden},
		{"an audit without its period is 422", c, "GET", audit, "", nil, http.StatusUnprocessableEntity},
		{"an audit without its last day is 422", c, "GET", audit + "?from=2026-01-01", "", nil, http.StatusUnprocessableEntity},
		{"an audit from a day in another format is 422", c, "GET", audit + "?from=01/01/2026&to=2026-01-31", "", nil, http.StatusUnprocessableEntity},
		{"an audit from a day that does not exist is 422", c, "GET", audit + "?from=2026-02-30&to=2026-03-31", "", nil, http.StatusUnprocessableEntity},
		{"an audit from an RFC 3339 time is 422", c, "GET", audit + "?from=2026-01-01T00:00:00Z&to=2026-01-31", "", nil, http.StatusUnprocessableEntity},
		{"an audit that ends before it starts is 422", c, "GET", audit + "?from=2026-02-01&to=2026-01-31", "", nil, http.StatusUnprocessableEntity},
		{"an audit with markup for a day is 422", c, "GET", audit + "?from=" + url.QueryEscape(xss) + "&to=2026-01-31", "", nil, http.StatusUnprocessableEntity},
		{"requests of an unknown status are 422", c, "GET", requests + "?status=lost", "", nil, http.StatusUnprocessableEntity},
		{"requests of a 10,000-character status are 422", c, "GET", requests + "?status=" + strings.Repeat("p", 10000), "", nil, http.StatusUnprocessableEntity},
		{"an approval without X-CSRF-Token is 403", c, "POST", approve, "", nil, http.StatusForbidden},
		{"an approval with a made-up X-CSRF-Token is 403", c, "POST", approve, strings.Repeat("A", 43), nil, http.StatusForbidden},
		{"a rejection without X-CSRF-Token is 403", c, "POST", reject, "", reason("x"), http.StatusForbidden},
		{"an approval with a body is 422: the note is the reason", c, "POST", approve, tok, reason("because"), http.StatusUnprocessableEntity},
		{"an approval with a body that is not JSON is 400", c, "POST", approve, tok, strings.NewReader(`reason=x`), http.StatusBadRequest},
		{"an approval of an id with a quote is 422", c, "POST", "/api/v1/sites/clinic-a/requests/r1'--/approve", tok, nil, http.StatusUnprocessableEntity},
		{"an approval of a 200-character id is 422", c, "POST", "/api/v1/sites/clinic-a/requests/" + strings.Repeat("a", 200) + "/approve", tok, nil, http.StatusUnprocessableEntity},
		{"a rejection without a reason is 422", c, "POST", reject, tok, nil, http.StatusUnprocessableEntity},
		{"a rejection with a blank reason is 422", c, "POST", reject, tok, reason(" \t "), http.StatusUnprocessableEntity},
		{"a rejection with a reason holding NUL is 422", c, "POST", reject, tok, reason("no\x00"), http.StatusUnprocessableEntity},
		{"a rejection with a reason of 50,000 characters is 422", c, "POST", reject, tok, reason(strings.Repeat("r", 50000)), http.StatusUnprocessableEntity},
		{"a rejection body over 64 KiB is 400", c, "POST", reject, tok, reason(strings.Repeat("r", 70000)), http.StatusBadRequest},
		{"a rejection with a reason of the wrong type is 400", c, "POST", reject, tok, strings.NewReader(`{"reason":["x"]}`), http.StatusBadRequest},
		{"a rejection with an unknown field is 400", c, "POST", reject, tok, jsonBody(map[string]string{"reason": "x", "by": "someone-else"}), http.StatusBadRequest},
		{"a rejection naming a user is 422", c, "POST", reject, tok, jsonBody(map[string]string{"reason": "x", "user": "alice"}), http.StatusUnprocessableEntity},
		{"a rejection of an id with a slash-encoded path is 422", c, "POST", "/api/v1/sites/clinic-a/requests/r2%2F..%2Fr1/reject", tok, reason("x"), http.StatusUnprocessableEntity},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			before := len(h.backend.changes)
			tc.client.t = t
			if code, out := tc.client.do(tc.method, tc.path, tc.csrf, tc.body); code != tc.status {
				t.Fatalf("%s %s = %d %v, want %d", tc.method, tc.path, code, out, tc.status)
			}
			if got := h.backend.changes[before:]; len(got) != 0 {
				t.Errorf("refused input reached the backend: %q", got)
			}
		})
	}
	// The session still works after all of it.
	if code, _ := c.do("GET", requests, "", nil); code != http.StatusOK {
		t.Fatalf("requests after the bad input = %d", code)
	}
}
