package policy_test

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// policies the random runs draw from: live, dry run, and with a custom shorten rule.
func randomPolicies(t testing.TB) []*policy.Rules {
	dry := live()
	dry.DryRun = true
	custom := live()
	custom.CustomRules = []policy.CustomRule{{Name: "locums", Expr: `user.properties["contract"] == "locum"`, Action: policy.ActionShorten, Period: 30 * policy.Day}}
	return []*policy.Rules{compile(t, live()), compile(t, dry), compile(t, custom)}
}

func hours(rng *rand.Rand, maxHours int) time.Duration {
	return time.Duration(rng.Intn(maxHours)) * time.Hour
}

// randomUser draws a user as a site would have them at install (day 0), with the logins it
// will make during the run and, if withExemption, perhaps an exemption that ends mid-run.
func randomUser(rng *rand.Rand, i int, withExemption bool) (policy.User, []time.Time, []policy.Exemption) {
	u := policy.User{Site: "s", UUID: fmt.Sprintf("u-%d", i), Username: fmt.Sprintf("user%d", i), CreatedAt: day(-500).Add(hours(rng, 499*24))}
	if rng.Intn(10) == 0 {
		u.Username = "test-" + u.Username
		u.CreatedAt = day(-5).Add(hours(rng, 150*24))
	}
	if rng.Intn(5) == 0 {
		u.Properties = map[string]string{"contract": "locum"}
	}
	if rng.Intn(10) < 7 && u.CreatedAt.Before(day(0)) {
		u.LastLoginAt = ptr(u.CreatedAt.Add(hours(rng, int(day(0).Sub(u.CreatedAt)/time.Hour)+1)))
	}
	var logins []time.Time
	for range rng.Intn(4) {
		logins = append(logins, day(0).Add(hours(rng, 200*24)))
	}
	var ex []policy.Exemption
	if withExemption && rng.Intn(6) == 0 {
		ex = []policy.Exemption{{UserUUID: u.UUID, Reason: "leave", By: "alice", Until: ptr(day(0).Add(hours(rng, 200*24))), CreatedAt: day(-10)}}
	}
	return u, logins, ex
}

// cleanTicks are in-order ticks from day 0 with random gaps of one hour to two days.
func cleanTicks(rng *rand.Rand, until time.Time) []time.Time {
	var ticks []time.Time
	for now := day(0); !now.After(until); now = now.Add(time.Hour + hours(rng, 48)) {
		ticks = append(ticks, now)
	}
	return ticks
}

func trace(out policy.Outcome) string {
	return fmt.Sprintf("%s/%s/%s/%s/%d/%v/%s", out.Kind, out.Protection, out.Rule, out.ID, out.Step, out.DeactivateOn.UnixNano(), out.Reason)
}

// Redelivered and replayed ticks, once TickAccepted filters them, decide exactly what a clean
// in-order run decides: same outcomes, same ids, same final state.
func TestDuplicatedAndReplayedTicksGiveTheCleanRunsDecisions(t *testing.T) {
	rules := randomPolicies(t)
	for seed := int64(1); seed <= 400; seed++ {
		rng := rand.New(rand.NewSource(seed))
		r := rules[rng.Intn(len(rules))]
		u, logins, ex := randomUser(rng, int(seed), true)
		ticks := cleanTicks(rng, day(200))

		clean := &sim{r: r, u: u, ex: ex, baseline: day(0), logins: logins}
		var want []string
		for _, now := range ticks {
			want = append(want, trace(clean.tick(now)))
		}

		noisy := &sim{r: r, u: u, ex: ex, baseline: day(0), logins: logins}
		var got []string
		deliver := func(now time.Time) {
			if out := noisy.tick(now); out.Kind != "ignored" {
				got = append(got, trace(out))
			}
		}
		for i, now := range ticks {
			deliver(now)
			for rng.Intn(3) == 0 {
				switch rng.Intn(2) {
				case 0:
					deliver(now) // redelivered
				default:
					deliver(ticks[rng.Intn(i+1)]) // an old tick arriving late
				}
			}
		}
		if len(got) != len(want) || noisy.st != clean.st {
			t.Fatalf("seed %d: %d decisions vs %d clean; states %+v vs %+v", seed, len(got), len(want), noisy.st, clean.st)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("seed %d, tick %d: %s, clean run %s", seed, i, got[i], want[i])
			}
		}
	}
}

// Ticks that never come (a clock that stops, jumps or skips) may delay decisions but never
// make them early, unwarned or twice.
func TestMissingTicksNeverRetireEarlyUnwarnedOrTwice(t *testing.T) {
	rules := randomPolicies(t)
	periods := map[string]time.Duration{policy.RuleInactiveAfter: 90 * policy.Day, policy.RuleDemoMaxAge: 2 * policy.Day, "locums": 30 * policy.Day}
	for seed := int64(1); seed <= 400; seed++ {
		rng := rand.New(rand.NewSource(seed))
		r := rules[rng.Intn(len(rules))]
		u, logins, _ := randomUser(rng, int(seed), false)
		s := &sim{r: r, u: u, baseline: day(0), logins: logins}
		type cycle struct {
			warned       []time.Duration
			lastAnnounce time.Time
			deactivated  bool
		}
		cycles := map[string]*cycle{}
		keep := 1 + rng.Intn(10) // keep about one tick in `keep`
		for now := day(0); !now.Before(day(0)) && now.Before(day(300)); now = now.Add(time.Duration(1+rng.Intn(keep*24)) * time.Hour) {
			out := s.tick(now)
			if out.Kind != policy.KindWarn && out.Kind != policy.KindDeactivate {
				continue
			}
			key := fmt.Sprintf("%s %v %v", s.st.Rule, s.st.Anchor, s.st.DryRun)
			c := cycles[key]
			if c == nil {
				c = &cycle{}
				cycles[key] = c
			}
			switch out.Kind {
			case policy.KindWarn:
				if c.deactivated {
					t.Fatalf("seed %d: warning after the deactivation of cycle %s", seed, key)
				}
				if n := len(c.warned); n > 0 && out.Step >= c.warned[n-1] {
					t.Fatalf("seed %d: warning steps %v then %v in one cycle", seed, c.warned, out.Step)
				}
				c.warned = append(c.warned, out.Step)
				c.lastAnnounce = out.DeactivateOn
			case policy.KindDeactivate:
				if c.deactivated {
					t.Fatalf("seed %d: deactivation requested twice in cycle %s", seed, key)
				}
				if len(c.warned) == 0 {
					t.Fatalf("seed %d: deactivation at %v without a warning in cycle %s", seed, now, key)
				}
				if now.Before(c.lastAnnounce) {
					t.Fatalf("seed %d: deactivated at %v before the announced %v", seed, now, c.lastAnnounce)
				}
				if now.Before(s.st.Anchor.Add(periods[s.st.Rule])) {
					t.Fatalf("seed %d: deactivated at %v before the due day %v", seed, now, s.st.Anchor.Add(periods[s.st.Rule]))
				}
				c.deactivated = true
			}
		}
	}
}

// A user outside the Cutoffs needs nothing at that tick, so the store may skip them.
func TestUsersOutsideTheCutoffsNeedNothing(t *testing.T) {
	rules := randomPolicies(t)
	checked := 0
	for seed := int64(1); seed <= 3000; seed++ {
		rng := rand.New(rand.NewSource(seed))
		r := rules[rng.Intn(len(rules))]
		u, _, _ := randomUser(rng, int(seed), false)
		now := day(0).Add(hours(rng, 300*24))
		if rng.Intn(2) == 0 {
			u.LastLoginAt = ptr(now.Add(-hours(rng, 120*24)))
		}
		baseline := day(0)
		c := r.Policy().Cutoffs(now)
		if policy.LastActivity(u, baseline).Before(c.ActivityBefore) || (r.IsDemo(u) && u.CreatedAt.Before(c.DemoCreatedBefore)) {
			continue
		}
		checked++
		out, st := r.Evaluate(u, policy.State{}, nil, baseline, now)
		if (out.Kind != policy.KindNone && out.Kind != policy.KindProtected) || !st.IsZero() {
			t.Fatalf("seed %d: user outside the cutoffs %+v got %s and state %+v", seed, c, out.Kind, st)
		}
	}
	if checked < 500 {
		t.Fatalf("only %d users fell outside the cutoffs: the test proves little", checked)
	}
}

// BenchmarkEvaluate10kUsers evaluates a site of 10,000 candidates with plans in flight, as one
// tick does after the preselect.
func BenchmarkEvaluate10kUsers(b *testing.B) {
	p := live()
	p.CustomRules = []policy.CustomRule{{Name: "locums", Expr: `user.properties["contract"] == "locum"`, Action: policy.ActionShorten, Period: 30 * policy.Day}}
	r := compile(b, p)
	rng := rand.New(rand.NewSource(1))
	users := make([]policy.User, 10000)
	states := make([]policy.State, len(users))
	now := day(0)
	for i := range users {
		users[i], _, _ = randomUser(rng, i, false)
		users[i].LastLoginAt = ptr(now.Add(-80 * policy.Day).Add(-hours(rng, 40*24)))
		_, states[i] = r.Evaluate(users[i], policy.State{}, nil, day(-400), now.Add(-policy.Day))
	}
	b.ResetTimer()
	for b.Loop() {
		for i := range users {
			r.Evaluate(users[i], states[i], nil, day(-400), now)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(users)), "ns/user")
}
