package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// UpcomingSort orders the upcoming deactivations.
type UpcomingSort string

// The orders of the admin page's upcoming list. Every order ends on the user's uuid (bytewise),
// so users that tie keep one order from page to page.
const (
	// SortDeactivateOn: soonest planned deactivation first (the default).
	SortDeactivateOn UpcomingSort = ""
	// SortUsername: by lower-cased username, bytewise (Unicode code point order).
	SortUsername UpcomingSort = "user"
	// SortLastActivity: longest inactive first (the plan's anchor).
	SortLastActivity UpcomingSort = "login"
	// SortRule: by the rule's name, bytewise.
	SortRule UpcomingSort = "rule"
)

// UpcomingQuery asks for one page of a site's planned deactivations. The stores filter,
// sort and cut the page in SQL: a national site has a million users, too many to read into
// the service for a page of fifty.
type UpcomingQuery struct {
	// Now: a user with an exemption in force at Now is left out (the next tick cancels the
	// plan; the list shows now what the admin just did).
	Now time.Time
	// Search keeps the users whose "username name uuid rule" (name: given and family names,
	// trimmed) holds it, both lower-cased rune by rune (strings.ToLower); it is matched
	// literally, so % and _ are no wildcards. Empty: everybody.
	Search string
	Sort   UpcomingSort
	// UserUUID, when set, keeps only that user (the user hand-over page).
	UserUUID string
	// Page counts from 1; a page past the last gives the last. PageSize 0 gives every row
	// on one page.
	Page, PageSize int
}

// UpcomingPage is one page of planned deactivations.
type UpcomingPage struct {
	Rows []Upcoming
	// Total counts the matching users on every page; Page is the page given (after
	// clamping), Pages how many there are (at least 1).
	Total, Page, Pages int
}

// Upcoming is a user with a deactivation planned and not yet requested.
type Upcoming struct {
	UserUUID, Username, GivenName, FamilyName string
	LastLoginAt                               *time.Time
	State                                     State
}

// Name is the user's name as the admin page shows it.
func (u Upcoming) Name() string { return strings.TrimSpace(u.GivenName + " " + u.FamilyName) }

// UpcomingStore lists a site's planned deactivations.
type UpcomingStore interface {
	Upcoming(ctx context.Context, site string, q UpcomingQuery) (UpcomingPage, error)
}

// maxUpcomingSearch bounds the search text, in runes (the admin page's input is shorter).
const maxUpcomingSearch = 200

// Validate says what is wrong with the query, naming the field.
func (q UpcomingQuery) Validate() error {
	var errs []error
	if q.Now.IsZero() {
		errs = append(errs, errors.New("upcoming: Now must be set"))
	}
	switch q.Sort {
	case SortDeactivateOn, SortUsername, SortLastActivity, SortRule:
	default:
		errs = append(errs, fmt.Errorf("upcoming: Sort %q is not one of user, login, rule or empty", q.Sort))
	}
	if q.Page < 0 {
		errs = append(errs, fmt.Errorf("upcoming: Page %d must not be negative", q.Page))
	}
	if q.PageSize < 0 {
		errs = append(errs, fmt.Errorf("upcoming: PageSize %d must not be negative", q.PageSize))
	}
	if n := len([]rune(q.Search)); n > maxUpcomingSearch {
		errs = append(errs, fmt.Errorf("upcoming: Search of %d characters is longer than %d", n, maxUpcomingSearch))
	}
	return errors.Join(errs...)
}

// SearchKey is the search text as the stores match it: lower-cased as strings.ToLower does.
func (q UpcomingQuery) SearchKey() string { return strings.ToLower(q.Search) }

// Window returns the page to give (1-based), the number of pages, and the rows to skip and
// take, for total matching rows.
func (q UpcomingQuery) Window(total int) (page, pages, offset, limit int) {
	if q.PageSize == 0 {
		return 1, 1, 0, total
	}
	pages = max(1, (total+q.PageSize-1)/q.PageSize)
	page = min(max(q.Page, 1), pages)
	return page, pages, (page - 1) * q.PageSize, q.PageSize
}

// SpaceChars lists every character strings.TrimSpace trims (unicode.IsSpace), for the
// stores' trim(): SQL's trim takes only spaces unless told which characters.
var SpaceChars = func() string {
	// unicode.IsSpace is White_Space: its Latin-1 list is that table's Latin-1 part.
	var b strings.Builder
	for _, r16 := range unicode.White_Space.R16 {
		for r := r16.Lo; r <= r16.Hi; r += r16.Stride {
			b.WriteRune(rune(r))
		}
	}
	for _, r32 := range unicode.White_Space.R32 {
		for r := r32.Lo; r <= r32.Hi; r += r32.Stride {
			b.WriteRune(rune(r))
		}
	}
	return b.String()
}()
