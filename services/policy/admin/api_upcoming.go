package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The API's upcoming list is paged in the store like the page: a national site has a
// million users with a plan, too many for one answer.
const (
	// apiUpcomingPerPage is the page size when per_page is not given.
	apiUpcomingPerPage = 100
	// maxAPIUpcomingPerPage bounds per_page: a page is one store query and one answer held
	// in memory, so a script cannot ask for the whole site at once.
	maxAPIUpcomingPerPage = 1000
	// maxAPIUpcomingPage bounds page so that the rows skipped (page × per_page) stay far
	// inside a 64-bit OFFSET; no site has a billion pages.
	maxAPIUpcomingPage = 1_000_000_000
)

// apiUpcomingSorts are the API's sort keys: the page's, with the default named as well.
var apiUpcomingSorts = map[string]string{"": "", "date": "", "user": "user", "login": "login", "rule": "rule"}

// apiUpcomingPage is the answer of GET /api/v1/sites/{site}/upcoming.
type apiUpcomingPage struct {
	// Total counts the matching users on every page.
	Total   int `json:"total"`
	Page    int `json:"page"`
	Pages   int `json:"pages"`
	PerPage int `json:"per_page"`
	// Next is the path and query of the next page, null on the last (and past it).
	Next *string    `json:"next"`
	Rows []Upcoming `json:"rows"`
}

// apiUpcomingQuery reads q, sort, page and per_page, refusing (ErrInvalid, so 422) what
// the store should not be asked: unlike the page, which shows its default for a bad
// parameter, a script is told, so it does not page through something it did not ask for.
func apiUpcomingQuery(v url.Values) (UpcomingQuery, error) {
	q := UpcomingQuery{Search: strings.TrimSpace(v.Get("q")), Page: 1, PageSize: apiUpcomingPerPage}
	if err := checkText("search (q)", q.Search, maxSearch); err != nil {
		return UpcomingQuery{}, err
	}
	sortKey, ok := apiUpcomingSorts[v.Get("sort")]
	if !ok {
		return UpcomingQuery{}, fmt.Errorf("%w: sort %q: want one of date, user, login, rule", ErrInvalid, truncate(v.Get("sort"), 40))
	}
	q.Sort = sortKey
	number := func(name string, max int, into *int) error {
		s := v.Get(name)
		if s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > max {
			return fmt.Errorf("%w: %s %q: want a whole number from 1 to %d", ErrInvalid, name, truncate(s, 40), max)
		}
		*into = n
		return nil
	}
	if err := number("page", maxAPIUpcomingPage, &q.Page); err != nil {
		return UpcomingQuery{}, err
	}
	if err := number("per_page", maxAPIUpcomingPerPage, &q.PageSize); err != nil {
		return UpcomingQuery{}, err
	}
	return q, nil
}

func (s *Server) apiUpcoming(r *http.Request, site string) (any, error) {
	q, err := apiUpcomingQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	res, err := s.backend.Upcoming(r.Context(), site, s.now(), q)
	if err != nil {
		return nil, err
	}
	out := apiUpcomingPage{Total: res.Total, Page: res.Page, Pages: res.Pages, PerPage: q.PageSize, Rows: res.Rows}
	if res.Page < q.Page {
		// The store gives the last page for one past it; a script counting pages until an
		// empty one would loop on it for ever, so past the last is empty.
		out.Page, out.Rows = q.Page, nil
	}
	if out.Rows == nil {
		out.Rows = []Upcoming{}
	}
	if out.Page < out.Pages {
		v := url.Values{"page": {strconv.Itoa(out.Page + 1)}, "per_page": {strconv.Itoa(q.PageSize)}}
		if q.Search != "" {
			v.Set("q", q.Search)
		}
		if sort := r.URL.Query().Get("sort"); sort != "" {
			v.Set("sort", sort)
		}
		next := "/api/v1/sites/" + url.PathEscape(site) + "/upcoming?" + v.Encode()
		out.Next = &next
	}
	return out, nil
}
