package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// BruteForceUpcoming finds what policy.UpcomingStore.Upcoming finds the way the admin page
// once did: every user of the site read into Go, filtered, searched with strings.Contains,
// stable-sorted and cut into pages. It is the reference the stores' SQL is checked against,
// and the "before" of the upcoming benchmark.
func BruteForceUpcoming(ctx context.Context, s policy.Store, site string, q policy.UpcomingQuery) (policy.UpcomingPage, error) {
	if err := q.Validate(); err != nil {
		return policy.UpcomingPage{}, err
	}
	exemptions, err := s.Exemptions(ctx, site)
	if err != nil {
		return policy.UpcomingPage{}, err
	}
	exempt := map[string]bool{}
	for _, e := range exemptions {
		exempt[e.UserUUID] = e.ActiveAt(q.Now)
	}
	var rows []policy.Upcoming
	err = s.EachUser(ctx, site, func(c policy.Candidate) error {
		st := c.State
		if st.IsZero() || st.Requested || c.User.Retired || st.DeactivateOn.IsZero() || exempt[c.User.UUID] {
			return nil
		}
		if q.UserUUID != "" && c.User.UUID != q.UserUUID {
			return nil
		}
		u := policy.Upcoming{UserUUID: c.User.UUID, Username: c.User.Username, GivenName: c.User.GivenName, FamilyName: c.User.FamilyName,
			LastLoginAt: c.User.LastLoginAt, State: st}
		if q.Search != "" && !strings.Contains(strings.ToLower(u.Username+" "+u.Name()+" "+u.UserUUID+" "+st.Rule), strings.ToLower(q.Search)) {
			return nil
		}
		rows = append(rows, u)
		return nil
	})
	if err != nil {
		return policy.UpcomingPage{}, err
	}
	sort.SliceStable(rows, func(i, j int) bool {
		switch q.Sort {
		case policy.SortUsername:
			return strings.ToLower(rows[i].Username) < strings.ToLower(rows[j].Username)
		case policy.SortLastActivity:
			return rows[i].State.Anchor.Before(rows[j].State.Anchor)
		case policy.SortRule:
			return rows[i].State.Rule < rows[j].State.Rule
		default:
			return rows[i].State.DeactivateOn.Before(rows[j].State.DeactivateOn)
		}
	})
	p := policy.UpcomingPage{Total: len(rows)}
	var offset, limit int
	p.Page, p.Pages, offset, limit = q.Window(len(rows))
	if limit > 0 {
		p.Rows = rows[offset:min(offset+limit, len(rows))]
	}
	return p, nil
}

// RunUpcoming is the conformance suite of policy.UpcomingStore: the store's page must equal
// both hand-picked expectations and the brute force's.
func RunUpcoming(t *testing.T, open Open) {
	ctx := context.Background()
	// Now carries nanoseconds the stores cannot keep, as the admin page's clock does.
	now := time.Date(2026, 11, 20, 10, 30, 0, 123456789, time.UTC)
	nowUS := now.Truncate(time.Microsecond)

	type user struct {
		id, username, given, family string
		site                        string // "" is site a
		login                       *time.Time
		retired, unsynced           bool
		state                       policy.State // zero: no plan
	}
	plan := func(inDays int) policy.State {
		on := nowUS.Add(time.Duration(inDays) * day)
		return policy.State{Rule: "inactive_after", Anchor: on.Add(-90 * day), Due: on, DeactivateOn: on, Warned: 7 * day}
	}
	setUp := func(t *testing.T, users []user, exemptions []policy.Exemption) policy.Store {
		t.Helper()
		s := open(t)
		states := map[string][]policy.StateChange{}
		for _, u := range users {
			site := u.site
			if site == "" {
				site = "a"
			}
			if !u.unsynced {
				sync(t, s, policy.User{Site: site, UUID: u.id, Username: u.username, GivenName: u.given, FamilyName: u.family,
					CreatedAt: nowUS.Add(-400 * day), Retired: u.retired})
			}
			if u.login != nil {
				login(t, s, site, u.id, *u.login)
			}
			if !u.state.IsZero() {
				states[site] = append(states[site], policy.StateChange{UserUUID: u.id, State: u.state})
			}
		}
		for site, changes := range states {
			if err := s.CommitTick(ctx, policy.TickCommit{Site: site, At: nowUS.Add(-time.Hour), Baseline: nowUS.Add(-300 * day), States: changes}); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range exemptions {
			if err := s.PutExemption(ctx, "a", e, policy.HistoryEntry{Site: "a", UserUUID: e.UserUUID, Kind: policy.HistoryExemptionAdded, At: e.CreatedAt, By: "admin1"}); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	// upcoming runs the store's query and the brute force and fails unless they agree.
	upcoming := func(t *testing.T, s policy.Store, site string, q policy.UpcomingQuery) policy.UpcomingPage {
		t.Helper()
		got, err := s.Upcoming(ctx, site, q)
		if err != nil {
			t.Fatalf("Upcoming(%+v): %v", q, err)
		}
		ref, err := BruteForceUpcoming(ctx, s, site, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Rows) == 0 && len(ref.Rows) == 0 {
			got.Rows, ref.Rows = nil, nil
		}
		if !reflect.DeepEqual(got, ref) {
			t.Fatalf("Upcoming(%+v) disagrees with the brute force:\nstore %s\nbrute %s", q, pageString(got), pageString(ref))
		}
		return got
	}
	named := func(id, username, given, family string, st policy.State) user {
		return user{id: id, username: username, given: given, family: family, state: st}
	}
	plain := func(id string, inDays int) user { return named(id, "user-"+id, "", "", plan(inDays)) }
	withRule := func(st policy.State, rule string) policy.State { st.Rule = rule; return st }
	withAnchor := func(st policy.State, d time.Duration) policy.State { st.Anchor = nowUS.Add(-d); return st }

	tests := []struct {
		rule       string
		users      []user
		exemptions []policy.Exemption
		q          policy.UpcomingQuery // Now is set for every case
		want       []string             // uuids of the page, in order
		total      int
		page       int // 0: 1
		pages      int // 0: 1
	}{
		{rule: "no plans: an empty first page of one",
			users: []user{{id: "u1", username: "alice"}},
			want:  nil},
		{rule: "soonest deactivation first, ties by uuid",
			users: []user{plain("u3", 5), plain("u1", 9), plain("u2", 5), plain("u0", 5)},
			want:  []string{"u0", "u2", "u3", "u1"}, total: 4},
		{rule: "retired, requested, unplanned, unsynced and other sites' users are left out",
			users: []user{plain("u1", 3),
				{id: "u2", username: "r", retired: true, state: plan(1)},
				{id: "u3", username: "q", state: func() policy.State { s := plan(1); s.Requested = true; return s }()},
				{id: "u4", username: "z", state: func() policy.State { s := plan(1); s.DeactivateOn = time.Time{}; return s }()},
				{id: "u5", username: "n"},
				{id: "u6", username: "s", unsynced: true, login: &nowUS, state: plan(1)},
				{id: "u7", username: "b", site: "b", state: plan(1)}},
			want: []string{"u1"}, total: 1},
		{rule: "a dry-run plan is listed",
			users: []user{{id: "u1", username: "d", state: func() policy.State { s := plan(2); s.DryRun = true; return s }()}},
			want:  []string{"u1"}, total: 1},
		{rule: "an exemption in force hides the user; ended, not begun or ending now does not",
			users: []user{plain("u1", 1), plain("u2", 2), plain("u3", 3), plain("u4", 4), plain("u5", 5)},
			exemptions: []policy.Exemption{
				{UserUUID: "u1", Reason: "r", By: "a", CreatedAt: nowUS.Add(-day)},                                   // until removed
				{UserUUID: "u2", Reason: "r", By: "a", CreatedAt: nowUS.Add(-day), Until: ptr(nowUS.Add(time.Hour))}, // ends later
				{UserUUID: "u3", Reason: "r", By: "a", CreatedAt: nowUS.Add(-9 * day), Until: ptr(nowUS.Add(-day))},  // ended
				{UserUUID: "u4", Reason: "r", By: "a", CreatedAt: nowUS.Add(-day), Until: ptr(nowUS)},                // ends now
				{UserUUID: "u5", Reason: "r", By: "a", CreatedAt: nowUS.Add(time.Hour)},                              // not begun
			},
			want: []string{"u3", "u4", "u5"}, total: 3},
		{rule: "by username, case-insensitively, ties by uuid",
			users: []user{named("u1", "bob", "", "", plan(1)), named("u2", "Alice", "", "", plan(2)), named("u0", "alice", "", "", plan(3)), named("u3", "ALICE", "", "", plan(4))},
			q:     policy.UpcomingQuery{Sort: policy.SortUsername},
			want:  []string{"u0", "u2", "u3", "u1"}, total: 4},
		{rule: "by username, code point order: accented and non-Latin names after z",
			users: []user{named("u1", "Émile", "", "", plan(1)), named("u2", "zoe", "", "", plan(2)), named("u3", "Иван", "", "", plan(3)), named("u4", "émilie", "", "", plan(4)), named("u5", "Zack", "", "", plan(5))},
			q:     policy.UpcomingQuery{Sort: policy.SortUsername},
			want:  []string{"u5", "u2", "u1", "u4", "u3"}, total: 5},
		{rule: "by last activity, longest inactive first, ties by uuid",
			users: []user{{id: "u1", username: "a", state: withAnchor(plan(1), 100*day)}, {id: "u2", username: "b", state: withAnchor(plan(1), 200*day)},
				{id: "u0", username: "c", state: withAnchor(plan(9), 100*day)}},
			q:    policy.UpcomingQuery{Sort: policy.SortLastActivity},
			want: []string{"u2", "u0", "u1"}, total: 3},
		{rule: "by rule, ties by uuid",
			users: []user{{id: "u1", username: "a", state: withRule(plan(1), "inactive_after")}, {id: "u2", username: "b", state: withRule(plan(2), "demo")},
				{id: "u0", username: "c", state: withRule(plan(3), "inactive_after")}},
			q:    policy.UpcomingQuery{Sort: policy.SortRule},
			want: []string{"u2", "u0", "u1"}, total: 3},
		{rule: "the search ignores case in the username and the name",
			users: []user{named("u1", "JSmith", "", "", plan(1)), named("u2", "x", "John", "SMITH", plan(2)), named("u3", "y", "Jane", "Doe", plan(3))},
			q:     policy.UpcomingQuery{Search: "sMiTh"},
			want:  []string{"u1", "u2"}, total: 2},
		{rule: "the search folds non-ASCII letters too",
			users: []user{named("u1", "ÉLODIE", "", "", plan(1)), named("u2", "x", "Ünal", "Şahin", plan(2)), named("u3", "elodie", "", "", plan(3)), named("u4", "ИВАН", "", "", plan(4))},
			q:     policy.UpcomingQuery{Search: "élodie"},
			want:  []string{"u1"}, total: 1},
		{rule: "an upper-case non-ASCII search finds lower-case names",
			users: []user{named("u1", "x", "ünal", "şahin", plan(1)), named("u2", "иван", "", "", plan(2))},
			q:     policy.UpcomingQuery{Search: "ÜNAL ŞAHİN"},
			want:  []string{"u1"}, total: 1},
		{rule: "a search for Cyrillic finds Cyrillic",
			users: []user{named("u1", "x", "ünal", "şahin", plan(1)), named("u2", "ИВАН", "", "", plan(2))},
			q:     policy.UpcomingQuery{Search: "иван"},
			want:  []string{"u2"}, total: 1},
		{rule: "% in the search is a percent sign, not a wildcard",
			users: []user{named("u1", "100%done", "", "", plan(1)), named("u2", "100xdone", "", "", plan(2)), named("u3", "plain", "", "", plan(3))},
			q:     policy.UpcomingQuery{Search: "0%d"},
			want:  []string{"u1"}, total: 1},
		{rule: "a lone % finds only names holding one",
			users: []user{named("u1", "a%b", "", "", plan(1)), named("u2", "ab", "", "", plan(2))},
			q:     policy.UpcomingQuery{Search: "%"},
			want:  []string{"u1"}, total: 1},
		{rule: "_ in the search is an underscore, not a wildcard",
			users: []user{named("u1", "j_doe", "", "", plan(1)), named("u2", "jxdoe", "", "", plan(2))},
			q:     policy.UpcomingQuery{Search: "j_d"},
			want:  []string{"u1"}, total: 1},
		{rule: "a backslash in the search is a backslash",
			users: []user{named("u1", `dom\jdoe`, "", "", plan(1)), named("u2", "domjdoe", "", "", plan(2)), named("u3", `dom\\jdoe`, "", "", plan(3))},
			q:     policy.UpcomingQuery{Search: `m\j`},
			want:  []string{"u1"}, total: 1},
		{rule: "quotes and SQL in the search are text",
			users: []user{named("u1", "o'brien", "", "", plan(1)), named("u2", "obrien", "", "", plan(2))},
			q:     policy.UpcomingQuery{Search: "'b"},
			want:  []string{"u1"}, total: 1},
		{rule: "the search finds the uuid and the rule",
			users: []user{{id: "abc-123", username: "x", state: plan(1)}, {id: "u2", username: "y", state: withRule(plan(2), "demo_account")}, plain("u3", 3)},
			q:     policy.UpcomingQuery{Search: "C-12"},
			want:  []string{"abc-123"}, total: 1},
		{rule: "the search runs over username, trimmed name, uuid and rule joined by spaces",
			users: []user{named("u1", "alice", "", "Smith", plan(1)), named("u2", "alice", "Bob", "", plan(2)), named("u3", "alice", "\t", "\u00a0", plan(3))},
			q:     policy.UpcomingQuery{Search: "alice smith"},
			want:  []string{"u1"}, total: 1},
		{rule: "an empty or blank name leaves two spaces between username and uuid",
			users: []user{named("u1", "alice", "\t", "\u00a0", plan(1)), named("u2", "alice", "", "", plan(2)), named("u3", "alice", "x", "", plan(3))},
			q:     policy.UpcomingQuery{Search: "e  u"},
			want:  []string{"u1", "u2"}, total: 2},
		{rule: "a search matching nobody gives an empty first page of one",
			users: []user{plain("u1", 1)},
			q:     policy.UpcomingQuery{Search: "nobody", PageSize: 2, Page: 3},
			want:  nil},
		{rule: "pages of two: the second",
			users: []user{plain("u1", 1), plain("u2", 2), plain("u3", 3), plain("u4", 4), plain("u5", 5)},
			q:     policy.UpcomingQuery{PageSize: 2, Page: 2},
			want:  []string{"u3", "u4"}, total: 5, page: 2, pages: 3},
		{rule: "pages of two: the last holds the rest",
			users: []user{plain("u1", 1), plain("u2", 2), plain("u3", 3), plain("u4", 4), plain("u5", 5)},
			q:     policy.UpcomingQuery{PageSize: 2, Page: 3},
			want:  []string{"u5"}, total: 5, page: 3, pages: 3},
		{rule: "a page past the last gives the last",
			users: []user{plain("u1", 1), plain("u2", 2), plain("u3", 3), plain("u4", 4)},
			q:     policy.UpcomingQuery{PageSize: 2, Page: 99},
			want:  []string{"u3", "u4"}, total: 4, page: 2, pages: 2},
		{rule: "page 0 gives the first",
			users: []user{plain("u1", 1), plain("u2", 2), plain("u3", 3)},
			q:     policy.UpcomingQuery{PageSize: 2},
			want:  []string{"u1", "u2"}, total: 3, page: 1, pages: 2},
		{rule: "ties run across a page boundary in uuid order",
			users: []user{plain("u4", 1), plain("u2", 1), plain("u3", 1), plain("u1", 1)},
			q:     policy.UpcomingQuery{PageSize: 3, Page: 2},
			want:  []string{"u4"}, total: 4, page: 2, pages: 2},
		{rule: "one user by uuid",
			users: []user{plain("u1", 1), plain("u2", 2)},
			q:     policy.UpcomingQuery{UserUUID: "u2"},
			want:  []string{"u2"}, total: 1},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			s := setUp(t, tc.users, tc.exemptions)
			q := tc.q
			q.Now = now
			got := upcoming(t, s, "a", q)
			var ids []string
			for _, r := range got.Rows {
				ids = append(ids, r.UserUUID)
			}
			wantPage, wantPages := max(tc.page, 1), max(tc.pages, 1)
			if !reflect.DeepEqual(ids, tc.want) || got.Total != tc.total || got.Page != wantPage || got.Pages != wantPages {
				t.Fatalf("Upcoming = %v (total %d, page %d of %d), want %v (total %d, page %d of %d)",
					ids, got.Total, got.Page, got.Pages, tc.want, tc.total, wantPage, wantPages)
			}
		})
	}

	t.Run("a row carries the user's names, last login and plan as stored", func(t *testing.T) {
		login := nowUS.Add(-100 * day)
		st := plan(3)
		st.DryRun = true
		s := setUp(t, []user{{id: "u1", username: "alice", given: "Alice", family: "Liddell", login: &login, state: st}}, nil)
		got := upcoming(t, s, "a", policy.UpcomingQuery{Now: now})
		want := policy.Upcoming{UserUUID: "u1", Username: "alice", GivenName: "Alice", FamilyName: "Liddell", LastLoginAt: &login, State: st}
		if len(got.Rows) != 1 || !reflect.DeepEqual(got.Rows[0], want) {
			t.Fatalf("rows = %+v, want %+v", got.Rows, want)
		}
	})

	t.Run("a mixed population pages, sorts and searches as the brute force does", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 5))
		// Few letters and few days, so searches hit and sort keys tie often.
		letters := []string{"a", "A", "b", "é", "É", "ü", "и", "И", "%", "_", `\`, " ", "'", "ß", "İ", "ǅ"}
		word := func(n int) string {
			var b strings.Builder
			for range rng.IntN(n + 1) {
				b.WriteString(letters[rng.IntN(len(letters))])
			}
			return b.String()
		}
		var users []user
		var exemptions []policy.Exemption
		for i := range 300 {
			u := user{id: fmt.Sprintf("u%03d", i), username: word(4), given: word(3), family: word(3)}
			switch rng.IntN(12) {
			case 0:
				u.retired = true
			case 1:
				u.unsynced = true
			case 2:
				u.site = "b"
			}
			if rng.IntN(5) > 0 {
				st := withRule(plan(rng.IntN(8)), []string{"inactive_after", "demo", "never_logged_in"}[rng.IntN(3)])
				st.Anchor = nowUS.Add(-time.Duration(rng.IntN(4)) * 30 * day)
				st.Requested, st.DryRun = rng.IntN(8) == 0, rng.IntN(4) == 0
				u.state = st
			}
			if rng.IntN(2) == 0 {
				l := nowUS.Add(-time.Duration(rng.IntN(400)) * day)
				u.login = &l
			}
			users = append(users, u)
			if u.site == "" && rng.IntN(8) == 0 {
				e := policy.Exemption{UserUUID: u.id, Reason: "r", By: "a", CreatedAt: nowUS.Add(time.Duration(rng.IntN(4)-3) * day)}
				if rng.IntN(2) == 0 {
					e.Until = ptr(nowUS.Add(time.Duration(rng.IntN(4)-2) * day))
				}
				exemptions = append(exemptions, e)
			}
		}
		s := setUp(t, users, exemptions)
		all := upcoming(t, s, "a", policy.UpcomingQuery{Now: now})
		if all.Total < 100 {
			t.Fatalf("the population plans only %d deactivations", all.Total)
		}
		searches := []string{"", "a", "É", "é", "ß", "%", "_", `\`, "'", " ", "i", "İ", "ǆ", "и", "u0", "u01", "demo", "a a", "zzz"}
		hits := 0
		for _, sortKey := range []policy.UpcomingSort{policy.SortDeactivateOn, policy.SortUsername, policy.SortLastActivity, policy.SortRule} {
			for _, search := range searches {
				for _, size := range []int{0, 7, 50} {
					for page := 0; page <= 5; page++ {
						p := upcoming(t, s, "a", policy.UpcomingQuery{Now: now, Search: search, Sort: sortKey, PageSize: size, Page: page})
						if search != "" && search != "zzz" && p.Total > 0 {
							hits++
						}
					}
				}
			}
		}
		if hits == 0 {
			t.Fatal("no search found anybody: the population does not exercise the search")
		}
		upcoming(t, s, "b", policy.UpcomingQuery{Now: now, PageSize: 7, Page: 2})
		// Later instants end and begin exemptions; both must follow.
		for _, step := range []time.Duration{-2 * day, time.Microsecond, 2 * day} {
			upcoming(t, s, "a", policy.UpcomingQuery{Now: now.Add(step)})
		}
	})

	t.Run("a query with no instant, an unknown sort or a negative page is refused, naming the field", func(t *testing.T) {
		s := open(t)
		for _, tc := range []struct {
			q    policy.UpcomingQuery
			want string
		}{
			{policy.UpcomingQuery{}, "Now"},
			{policy.UpcomingQuery{Now: now, Sort: "name; DROP TABLE policy_users"}, "Sort"},
			{policy.UpcomingQuery{Now: now, Page: -1}, "Page"},
			{policy.UpcomingQuery{Now: now, PageSize: -1}, "PageSize"},
			{policy.UpcomingQuery{Now: now, Search: strings.Repeat("é", 201)}, "Search"},
		} {
			if _, err := s.Upcoming(ctx, "a", tc.q); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Upcoming(%+v) = %v, want an error naming %s", tc.q, err, tc.want)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

func pageString(p policy.UpcomingPage) string {
	var b strings.Builder
	fmt.Fprintf(&b, "total %d, page %d of %d:", p.Total, p.Page, p.Pages)
	for _, r := range p.Rows {
		fmt.Fprintf(&b, " %s(%q %q %q %s %s)", r.UserUUID, r.Username, r.GivenName, r.FamilyName, r.State.Rule, r.State.DeactivateOn.Format(time.RFC3339Nano))
	}
	return b.String()
}
