package admin_test

import (
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/dormant-dev/dormant/services/policy/admin"
)

// TestTheUpcomingAPIPagesInTheBackend: GET /api/v1/sites/{site}/upcoming asks its backend
// (which pages in its store) for one page, never every row, and says the total and the path
// of the next page. The memBackend has 120 users, soonest first.
func TestTheUpcomingAPIPagesInTheBackend(t *testing.T) {
	h, _ := newHarness(t)
	jar, _ := cookiejar.New(nil)
	c := apiClient{t: t, h: h, client: &http.Client{Jar: jar}}
	c.signIn()
	const path = "/api/v1/sites/clinic-a/upcoming"
	tests := []struct {
		rule, query string
		asked       admin.UpcomingQuery
		total       float64
		page, pages float64
		perPage     float64
		rows        int
		first       string // the first row's uuid ("" when no rows)
		next        any    // the next page's path, or nil
	}{
		{"no parameters: the first hundred, soonest first", "",
			admin.UpcomingQuery{Page: 1, PageSize: 100}, 120, 1, 2, 100, 100, "uuid-119", path + "?page=2&per_page=100"},
		{"the next link's page is the rest", "?page=2&per_page=100",
			admin.UpcomingQuery{Page: 2, PageSize: 100}, 120, 2, 2, 100, 20, "uuid-019", nil},
		{"the search (trimmed) and sort are kept in the next link", "?q=+user1+&sort=user&per_page=5",
			admin.UpcomingQuery{Search: "user1", Sort: "user", Page: 1, PageSize: 5}, 20, 1, 4, 5, 5, "uuid-119", path + "?page=2&per_page=5&q=user1&sort=user"},
		{"sort=date is the default order", "?sort=date",
			admin.UpcomingQuery{Page: 1, PageSize: 100}, 120, 1, 2, 100, 100, "uuid-119", path + "?page=2&per_page=100&sort=date"},
		{"the largest page size gives everybody at once", "?per_page=1000",
			admin.UpcomingQuery{Page: 1, PageSize: 1000}, 120, 1, 1, 1000, 120, "uuid-119", nil},
		{"a page past the last is empty, not the last again", "?page=3",
			admin.UpcomingQuery{Page: 3, PageSize: 100}, 120, 3, 2, 100, 0, "", nil},
		{"the largest page is empty", "?page=1000000000",
			admin.UpcomingQuery{Page: 1000000000, PageSize: 100}, 120, 1000000000, 2, 100, 0, "", nil},
		{"wildcards are searched as they are: nobody", "?q=%25_",
			admin.UpcomingQuery{Search: "%_", Page: 1, PageSize: 100}, 0, 1, 1, 100, 0, "", nil},
		{"a search of 200 characters is taken", "?q=" + strings.Repeat("é", 200),
			admin.UpcomingQuery{Search: strings.Repeat("é", 200), Page: 1, PageSize: 100}, 0, 1, 1, 100, 0, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			before := len(h.backend.upcomingQueries)
			code, out := c.do("GET", path+tc.query, "", nil)
			if code != http.StatusOK {
				t.Fatalf("answered %d %v", code, out)
			}
			asked := h.backend.upcomingQueries[before:]
			if len(asked) != 1 || asked[0] != tc.asked {
				t.Fatalf("the backend was asked %+v, want %+v", asked, tc.asked)
			}
			m, ok := out.(map[string]any)
			if !ok {
				t.Fatalf("the answer is %T, want an object", out)
			}
			for k, want := range map[string]float64{"total": tc.total, "page": tc.page, "pages": tc.pages, "per_page": tc.perPage} {
				if m[k] != want {
					t.Errorf("%s = %v, want %v", k, m[k], want)
				}
			}
			if m["next"] != tc.next {
				t.Errorf("next = %v, want %v", m["next"], tc.next)
			}
			rows, ok := m["rows"].([]any)
			if !ok {
				t.Fatalf("rows = %v (%T), want an array, empty when there are none", m["rows"], m["rows"])
			}
			if len(rows) != tc.rows {
				t.Fatalf("%d rows, want %d", len(rows), tc.rows)
			}
			if tc.rows > 0 {
				if got := rows[0].(map[string]any)["UserUUID"]; got != tc.first {
					t.Errorf("first row %v, want %s", got, tc.first)
				}
			}
		})
	}
}
