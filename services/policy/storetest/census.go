package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// BruteForceCensus counts what policy.CensusStore.Census counts by reading every user into
// Go, as the admin overview once did: the reference the stores' SQL is checked against, and
// the "before" of the overview benchmark.
func BruteForceCensus(ctx context.Context, s policy.Store, site string, q policy.CensusQuery) (policy.Census, error) {
	if err := q.Validate(); err != nil {
		return policy.Census{}, err
	}
	q = q.AtStorePrecision()
	exemptions, err := s.Exemptions(ctx, site)
	if err != nil {
		return policy.Census{}, err
	}
	exempt := map[string]bool{}
	for _, e := range exemptions {
		exempt[e.UserUUID] = e.ActiveAt(q.Now)
	}
	c := policy.Census{Ages: make([]int, q.Buckets)}
	err = s.EachUser(ctx, site, func(cand policy.Candidate) error {
		u, st := cand.User, cand.State
		if u.Retired {
			c.Retired++
			return nil
		}
		c.Active++
		if u.LastLoginAt == nil {
			c.NeverLoggedIn++
		}
		if exempt[u.UUID] {
			c.Exempt++
		}
		c.Ages[q.AgeBucket(policy.LastActivity(u, q.Baseline))]++
		if st.IsZero() || st.DryRun {
			return nil
		}
		if st.Requested {
			c.Requested++
			return nil
		}
		if st.Warned != 0 {
			c.Warned++
		}
		if !st.DeactivateOn.IsZero() && st.DeactivateOn.Before(q.DueBefore) {
			c.Due++
		}
		return nil
	})
	return c, err
}

// RunCensus is the conformance suite of policy.CensusStore: the store's aggregate must equal
// both hand-counted expectations and the brute-force count.
func RunCensus(t *testing.T, open Open) {
	ctx := context.Background()
	// Now carries nanoseconds the stores cannot keep: the census must count at their
	// microsecond precision and still agree with the brute force.
	now := time.Date(2026, 11, 20, 10, 30, 0, 123456789, time.UTC)
	nowUS := now.Truncate(time.Microsecond)
	query := policy.CensusQuery{Now: now, Baseline: now.Add(-60 * day), BucketDays: 15, Buckets: 13, DueBefore: nowUS.Add(30 * day)}
	ago := func(d time.Duration) *time.Time { t := nowUS.Add(-d); return &t }
	kathmandu := time.FixedZone("Asia/Kathmandu", 5*3600+45*60)
	stJohns := time.FixedZone("America/St_Johns", -(3*3600 + 30*60))

	type user struct {
		id       string
		site     string // "" is site a
		created  time.Time
		login    *time.Time
		retired  bool
		unsynced bool // only a login seen, no roster sync
	}
	type plan struct {
		id    string
		state policy.State
	}
	warned := func(deactivateOn time.Time) policy.State {
		return policy.State{Rule: "inactive_after", Anchor: nowUS.Add(-80 * day), Due: deactivateOn, DeactivateOn: deactivateOn, Warned: 14 * day}
	}
	setUp := func(t *testing.T, users []user, plans []plan, exemptions []policy.Exemption) policy.Store {
		t.Helper()
		s := open(t)
		for _, u := range users {
			site := u.site
			if site == "" {
				site = "a"
			}
			if !u.unsynced {
				sync(t, s, policy.User{Site: site, UUID: u.id, Username: u.id, CreatedAt: u.created, Retired: u.retired})
			}
			if u.login != nil {
				login(t, s, site, u.id, *u.login)
			}
		}
		if len(plans) > 0 {
			tc := policy.TickCommit{Site: "a", At: nowUS.Add(-time.Hour), Baseline: query.Baseline}
			for _, p := range plans {
				tc.States = append(tc.States, policy.StateChange{UserUUID: p.id, State: p.state})
			}
			if err := s.CommitTick(ctx, tc); err != nil {
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
	// census runs the store's count and the brute force and fails unless they agree.
	census := func(t *testing.T, s policy.Store, site string, q policy.CensusQuery) policy.Census {
		t.Helper()
		got, err := s.Census(ctx, site, q)
		if err != nil {
			t.Fatalf("Census: %v", err)
		}
		ref, err := BruteForceCensus(ctx, s, site, q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, ref) {
			t.Fatalf("Census disagrees with the brute-force count:\nstore %+v\nbrute %+v", got, ref)
		}
		return got
	}
	ages := func(buckets map[int]int) []int {
		out := make([]int, query.Buckets)
		for b, n := range buckets {
			out[b] = n
		}
		return out
	}
	never := func(id string, created time.Time) user { return user{id: id, created: created} }
	seen := func(id string, at *time.Time) user { return user{id: id, created: nowUS.Add(-1000 * day), login: at} }

	tests := []struct {
		rule       string
		users      []user
		plans      []plan
		exemptions []policy.Exemption
		q          func(*policy.CensusQuery)
		want       policy.Census
	}{
		{rule: "a login exactly 15 days ago is 15 days old: the second bucket",
			users: []user{seen("u1", ago(15*day))},
			want:  policy.Census{Active: 1, Ages: ages(map[int]int{1: 1})}},
		{rule: "a login a microsecond short of 15 days ago is in the first bucket",
			users: []user{seen("u1", ago(15*day-time.Microsecond))},
			want:  policy.Census{Active: 1, Ages: ages(map[int]int{0: 1})}},
		{rule: "a login exactly 180 days ago opens the last bucket",
			users: []user{seen("u1", ago(180*day)), seen("u2", ago(180*day-time.Microsecond))},
			want:  policy.Census{Active: 2, Ages: ages(map[int]int{11: 1, 12: 1})}},
		{rule: "a login years ago is in the last bucket",
			users: []user{seen("u1", ago(3*365*day))},
			want:  policy.Census{Active: 1, Ages: ages(map[int]int{12: 1})}},
		{rule: "a login later than now (clock skew) is in the first bucket",
			users: []user{seen("u1", ago(-2*day))},
			want:  policy.Census{Active: 1, Ages: ages(map[int]int{0: 1})}},
		{rule: "a user never seen logging in, created before the baseline, is measured from the baseline",
			users: []user{never("u1", nowUS.Add(-400*day))},
			want:  policy.Census{Active: 1, NeverLoggedIn: 1, Ages: ages(map[int]int{4: 1})}},
		{rule: "a user never seen logging in, created after the baseline, is measured from creation",
			users: []user{never("u1", nowUS.Add(-40*day))},
			want:  policy.Census{Active: 1, NeverLoggedIn: 1, Ages: ages(map[int]int{2: 1})}},
		{rule: "a user without a creation date is measured from the baseline",
			users: []user{never("u1", time.Time{})},
			want:  policy.Census{Active: 1, NeverLoggedIn: 1, Ages: ages(map[int]int{4: 1})}},
		{rule: "without a baseline a user with no login and no creation date is in the last bucket",
			users: []user{never("u1", time.Time{})},
			q:     func(q *policy.CensusQuery) { q.Baseline = time.Time{} },
			want:  policy.Census{Active: 1, NeverLoggedIn: 1, Ages: ages(map[int]int{12: 1})}},
		{rule: "a login, however old, counts over the creation date and the baseline",
			users: []user{{id: "u1", created: nowUS.Add(-day), login: ago(100 * day)}},
			want:  policy.Census{Active: 1, Ages: ages(map[int]int{6: 1})}},
		{rule: "a retired user counts as retired and nowhere else",
			users:      []user{{id: "u1", created: nowUS.Add(-400 * day), retired: true}},
			plans:      []plan{{"u1", warned(nowUS.Add(day))}},
			exemptions: []policy.Exemption{{UserUUID: "u1", Reason: "transfer", By: "admin1", CreatedAt: nowUS.Add(-day)}},
			want:       policy.Census{Retired: 1, Ages: ages(nil)}},
		{rule: "a user only seen logging in, not yet synced from the roster, is not counted",
			users: []user{{id: "u1", login: ago(time.Hour), unsynced: true}},
			want:  policy.Census{Ages: ages(nil)}},
		{rule: "another site's users are not counted",
			users: []user{{id: "u1", site: "b", created: nowUS.Add(-400 * day)}},
			want:  policy.Census{Ages: ages(nil)}},
		{rule: "an exemption counts from its creation up to, not including, its end",
			users: []user{seen("u1", ago(day)), seen("u2", ago(day)), seen("u3", ago(day)), seen("u4", ago(day)), seen("u5", ago(day))},
			exemptions: []policy.Exemption{
				{UserUUID: "u1", Reason: "transfer", By: "admin1", CreatedAt: nowUS.Add(-day)},                         // until removed
				{UserUUID: "u2", Reason: "transfer", By: "admin1", CreatedAt: nowUS.Add(-day), Until: ago(-time.Hour)}, // ends later
				{UserUUID: "u3", Reason: "transfer", By: "admin1", CreatedAt: nowUS.Add(-9 * day), Until: ago(day)},    // ended
				{UserUUID: "u4", Reason: "transfer", By: "admin1", CreatedAt: nowUS.Add(-day), Until: ago(0)},          // ends now
				{UserUUID: "u5", Reason: "transfer", By: "admin1", CreatedAt: nowUS.Add(time.Hour)},                    // not begun
			},
			want: policy.Census{Active: 5, Exempt: 2, Ages: ages(map[int]int{0: 5})}},
		{rule: "a warned plan counts as warned, and as due only before DueBefore",
			users: []user{seen("u1", ago(80*day)), seen("u2", ago(80*day)), seen("u3", ago(80*day))},
			plans: []plan{{"u1", warned(nowUS.Add(10 * day))}, {"u2", warned(query.DueBefore)}, {"u3", warned(query.DueBefore.Add(-time.Microsecond))}},
			want:  policy.Census{Active: 3, Warned: 3, Due: 2, Ages: ages(map[int]int{5: 3})}},
		{rule: "a plan not yet warned is due but not warned",
			users: []user{seen("u1", ago(80*day))},
			plans: []plan{{"u1", policy.State{Rule: "inactive_after", Anchor: nowUS.Add(-80 * day), Due: nowUS.Add(10 * day), DeactivateOn: nowUS.Add(10 * day)}}},
			want:  policy.Census{Active: 1, Due: 1, Ages: ages(map[int]int{5: 1})}},
		{rule: "a dry-run plan counts neither as warned nor as due nor as requested",
			users: []user{seen("u1", ago(80*day)), seen("u2", ago(95*day))},
			plans: []plan{{"u1", func() policy.State { s := warned(nowUS.Add(day)); s.DryRun = true; return s }()},
				{"u2", func() policy.State { s := warned(nowUS.Add(-day)); s.DryRun, s.Requested = true, true; return s }()}},
			want: policy.Census{Active: 2, Ages: ages(map[int]int{5: 1, 6: 1})}},
		{rule: "a requested deactivation counts as requested, not as warned or due",
			users: []user{seen("u1", ago(95*day))},
			plans: []plan{{"u1", func() policy.State { s := warned(nowUS.Add(-day)); s.Requested = true; return s }()}},
			want:  policy.Census{Active: 1, Requested: 1, Ages: ages(map[int]int{6: 1})}},
		{rule: "logins recorded in other time zones count by the instant",
			users: []user{seen("u1", func() *time.Time { t := nowUS.Add(-15 * day).In(kathmandu); return &t }()),
				seen("u2", func() *time.Time { t := nowUS.Add(-15*day + time.Microsecond).In(stJohns); return &t }())},
			q:    func(q *policy.CensusQuery) { q.Now = q.Now.In(stJohns); q.Baseline = q.Baseline.In(kathmandu) },
			want: policy.Census{Active: 2, Ages: ages(map[int]int{0: 1, 1: 1})}},
		{rule: "one bucket holds everybody",
			users: []user{seen("u1", ago(0)), seen("u2", ago(5000*day)), never("u3", time.Time{})},
			q:     func(q *policy.CensusQuery) { q.Buckets = 1 },
			want:  policy.Census{Active: 3, NeverLoggedIn: 1, Ages: []int{3}}},
		{rule: "day-wide buckets split at whole days",
			users: []user{seen("u1", ago(day-time.Microsecond)), seen("u2", ago(day)), seen("u3", ago(2*day))},
			q:     func(q *policy.CensusQuery) { q.BucketDays, q.Buckets = 1, 3 },
			want:  policy.Census{Active: 3, Ages: []int{1, 1, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			s := setUp(t, tc.users, tc.plans, tc.exemptions)
			q := query
			if tc.q != nil {
				tc.q(&q)
			}
			if got := census(t, s, "a", q); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Census = %+v\nwant     %+v", got, tc.want)
			}
		})
	}

	t.Run("a mixed population counts as the brute force does, at any instant and in any zone", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 11))
		var users []user
		var plans []plan
		var exemptions []policy.Exemption
		// Ages fall on bucket edges, a microsecond either side, or anywhere in 400 days.
		at := func() time.Time {
			switch rng.IntN(3) {
			case 0:
				return nowUS.Add(-time.Duration(rng.IntN(14)*15)*day + time.Duration(rng.IntN(3)-1)*time.Microsecond)
			default:
				return nowUS.Add(-time.Duration(rng.Int64N(int64(400 * day))))
			}
		}
		for i := range 500 {
			u := user{id: fmt.Sprintf("u%03d", i), created: at().Add(-time.Duration(rng.IntN(200)) * day)}
			switch rng.IntN(10) {
			case 0:
				u.created = time.Time{}
			case 1:
				u.retired = true
			case 2:
				u.unsynced = true
			case 3:
				u.site = "b"
			}
			if rng.IntN(4) > 0 {
				l := at().In([]*time.Location{time.UTC, kathmandu, stJohns}[rng.IntN(3)])
				u.login = &l
			}
			users = append(users, u)
			if u.site == "" && rng.IntN(3) == 0 {
				st := warned(nowUS.Add(time.Duration(rng.IntN(60)-15) * day))
				st.Warned = []time.Duration{0, day, 7 * day, 14 * day}[rng.IntN(4)]
				st.Requested, st.DryRun = rng.IntN(4) == 0, rng.IntN(4) == 0
				plans = append(plans, plan{u.id, st})
			}
			if u.site == "" && rng.IntN(5) == 0 {
				e := policy.Exemption{UserUUID: u.id, Reason: "r", By: "admin1", CreatedAt: nowUS.Add(time.Duration(rng.IntN(20)-18) * day)}
				if rng.IntN(2) == 0 {
					until := nowUS.Add(time.Duration(rng.IntN(20)-10) * day)
					e.Until = &until
				}
				exemptions = append(exemptions, e)
			}
		}
		s := setUp(t, users, plans, exemptions)
		first := census(t, s, "a", query)
		if first.Active < 200 || first.Retired == 0 || first.Exempt == 0 || first.Warned == 0 || first.Due == 0 || first.Requested == 0 || first.NeverLoggedIn == 0 {
			t.Fatalf("the population does not exercise every count: %+v", first)
		}
		for _, loc := range []*time.Location{kathmandu, stJohns} {
			q := query
			q.Now, q.Baseline = q.Now.In(loc), q.Baseline.In(loc)
			if got := census(t, s, "a", q); !reflect.DeepEqual(got, first) {
				t.Fatalf("in %s the census is %+v, in UTC %+v", loc, got, first)
			}
		}
		// Later instants move users across edges; both counts must follow.
		for _, step := range []time.Duration{time.Microsecond, 12 * time.Hour, 15 * day, 200 * day} {
			q := query
			q.Now = q.Now.Add(step)
			census(t, s, "a", q)
		}
		census(t, s, "b", query)
	})

	t.Run("a census asked for with no buckets or no instant is refused, naming the field", func(t *testing.T) {
		s := open(t)
		for _, tc := range []struct {
			q    func(*policy.CensusQuery)
			want string
		}{
			{func(q *policy.CensusQuery) { q.BucketDays = 0 }, "BucketDays"},
			{func(q *policy.CensusQuery) { q.Buckets = 0 }, "Buckets"},
			{func(q *policy.CensusQuery) { q.Buckets = 100000 }, "Buckets"},
			{func(q *policy.CensusQuery) { q.Now = time.Time{} }, "Now"},
		} {
			q := query
			tc.q(&q)
			if _, err := s.Census(ctx, "a", q); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Census(%+v) = %v, want an error naming %s", q, err, tc.want)
			}
		}
	})
}
