package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

func TestLastActivity(t *testing.T) {
	baseline := day(0)
	tests := []struct {
		name string
		u    policy.User
		want time.Time
	}{
		{"the last login when there is one", policy.User{CreatedAt: day(-300), LastLoginAt: ptr(day(-200))}, day(-200)},
		{"a user never seen logging in, created before install, is measured from the baseline", policy.User{CreatedAt: day(-300)}, baseline},
		{"a user never seen logging in, created after install, is measured from creation", policy.User{CreatedAt: day(10)}, day(10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := policy.LastActivity(tc.u, baseline); !got.Equal(tc.want) {
				t.Fatalf("LastActivity = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestProtection(t *testing.T) {
	now := day(0)
	old := func(mod func(*policy.User)) policy.User {
		u := nurse()
		u.LastLoginAt = ptr(day(-500))
		mod(&u)
		return u
	}
	p := live()
	p.NeverTouch = []string{"kiosk"}
	p.CustomRules = []policy.CustomRule{
		{Name: "researchers", Expr: `"Researcher" in user.roles`, Action: policy.ActionExempt},
		{Name: "broken", Expr: `user.properties["missing"] == "x"`, Action: policy.ActionExempt},
	}
	r := compile(t, p)
	exemption := func(until *time.Time, created time.Time, uuid string) []policy.Exemption {
		return []policy.Exemption{{UserUUID: uuid, Reason: "transfer", By: "alice", Until: until, CreatedAt: created}}
	}
	tests := []struct {
		name string
		u    policy.User
		ex   []policy.Exemption
		want string // Protection, "" when not protected
	}{
		{"already retired users are never decided", old(func(u *policy.User) { u.Retired = true }), nil, policy.ProtectedRetired},
		{"admin is never touched", old(func(u *policy.User) { u.Username = "admin" }), nil, policy.ProtectedNeverTouch},
		{"admin is never touched whatever the case", old(func(u *policy.User) { u.Username = "Admin" }), nil, policy.ProtectedNeverTouch},
		{"daemon is never touched even when the list is replaced", old(func(u *policy.User) { u.Username = "daemon" }), nil, policy.ProtectedNeverTouch},
		{"never touch also matches the system id", old(func(u *policy.User) { u.Username, u.SystemID = "", "admin" }), nil, policy.ProtectedNeverTouch},
		{"a configured never-touch account is protected", old(func(u *policy.User) { u.Username = "kiosk" }), nil, policy.ProtectedNeverTouch},
		{"an exempt role protects", old(func(u *policy.User) { u.Roles = []string{"Nurse", "System Developer"} }), nil, policy.ProtectedExemptRole},
		{"an exempt role matches whatever the case", old(func(u *policy.User) { u.Roles = []string{"system developer"} }), nil, policy.ProtectedExemptRole},
		{"an exemption without expiry protects", old(func(*policy.User) {}), exemption(nil, day(-1), "u-nurse"), policy.ProtectedExemption},
		{"an exemption protects until its expiry", old(func(*policy.User) {}), exemption(ptr(day(1)), day(-1), "u-nurse"), policy.ProtectedExemption},
		{"an expired exemption no longer protects", old(func(*policy.User) {}), exemption(ptr(day(0)), day(-10), "u-nurse"), ""},
		{"an exemption created after the tick does not protect it (replays give old decisions)", old(func(*policy.User) {}), exemption(nil, day(1), "u-nurse"), ""},
		{"another user's exemption does not protect", old(func(*policy.User) {}), exemption(nil, day(-1), "u-other"), ""},
		{"a custom exempt rule protects and is named", old(func(u *policy.User) { u.Roles = []string{"Researcher"} }), nil, "researchers"},
		{"a custom exempt rule that fails protects", old(func(u *policy.User) { u.Properties = map[string]string{} }), nil, "broken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.u
			if tc.want != "broken" {
				// Keep the broken rule from matching the other cases.
				u.Properties = map[string]string{"missing": "y"}
			}
			out, st := r.Evaluate(u, policy.State{}, tc.ex, day(-1000), now)
			if tc.want == "" {
				if out.Kind == policy.KindProtected {
					t.Fatalf("protected (%s: %s), want not protected", out.Protection, out.Reason)
				}
				return
			}
			if out.Kind != policy.KindProtected || out.Protection != tc.want {
				t.Fatalf("outcome %s/%q (%s), want protected by %q", out.Kind, out.Protection, out.Reason, tc.want)
			}
			if !st.IsZero() {
				t.Fatalf("a protected user keeps a plan: %+v", st)
			}
			if tc.want == "broken" && len(out.RuleErrors) == 0 {
				t.Fatal("the failing rule is not reported")
			}
		})
	}
}

func TestDisabledPolicyDecidesNothing(t *testing.T) {
	p := live()
	p.Enabled = false
	r := compile(t, p)
	u := nurse()
	u.LastLoginAt = ptr(day(-500))
	out, st := r.Evaluate(u, policy.State{Rule: "inactive_after", DeactivateOn: day(-1), Warned: policy.Day}, nil, day(-1000), day(0))
	if out.Kind != policy.KindNone || !st.IsZero() {
		t.Fatalf("disabled policy gave %s and kept %+v", out.Kind, st)
	}
}

func TestIsDemo(t *testing.T) {
	p := live()
	p.Demo.SystemIDPattern = `^demo-[0-9]+$`
	p.Demo.Property = policy.PropertyMatch{Name: "accountKind"}
	r := compile(t, p)
	withValue := live()
	withValue.Demo.Property = policy.PropertyMatch{Name: "accountKind", Value: "training"}
	rv := compile(t, withValue)
	tests := []struct {
		name  string
		rules *policy.Rules
		u     policy.User
		want  bool
	}{
		{"an ordinary account is not a demo account", r, nurse(), false},
		{"a username prefix marks a demo account", r, policy.User{Username: "test-ward3"}, true},
		{"the username prefix matches whatever the case", r, policy.User{Username: "TEST-ward3"}, true},
		{"the prefix must start the username", r, policy.User{Username: "mytest-ward3"}, false},
		{"the family name marks a demo account", r, policy.User{Username: "x", FamilyName: "Test Account"}, true},
		{"the system id pattern marks a demo account", r, policy.User{Username: "x", SystemID: "demo-12"}, true},
		{"a property with any value marks a demo account when no value is set", r, policy.User{Username: "x", Properties: map[string]string{"accountKind": "whatever"}}, true},
		{"an empty property value does not", r, policy.User{Username: "x", Properties: map[string]string{"accountKind": ""}}, false},
		{"a property value must match when one is set", rv, policy.User{Username: "x", Properties: map[string]string{"accountKind": "staff"}}, false},
		{"a matching property value marks a demo account", rv, policy.User{Username: "x", Properties: map[string]string{"accountKind": "training"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rules.IsDemo(tc.u); got != tc.want {
				t.Fatalf("IsDemo = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAInactiveUserIsWarnedAt14_7_1DaysAndRequestedOnceOnDay90(t *testing.T) {
	for _, every := range []time.Duration{policy.Day, time.Hour} {
		t.Run(every.String()+" ticks", func(t *testing.T) {
			u := nurse()
			u.LastLoginAt = ptr(day(0))
			s := &sim{r: compile(t, live()), u: u, baseline: day(-30)}
			s.run(day(0), day(89), every)
			expectEvents(t, s.events, warn(14, day(76)), warn(7, day(83)), warn(1, day(89)))
			if last := s.events[len(s.events)-1]; last.DaysLeft != 1 || !last.DeactivateOn.Equal(day(90)) {
				t.Fatalf("inactive 89 days: last warning %s", story(s.events[2:]))
			}
			s.run(day(89).Add(every), day(300), every)
			expectEvents(t, s.events, warn(14, day(76)), warn(7, day(83)), warn(1, day(89)), deact(day(90)))
			d := s.events[3]
			if d.Rule != policy.RuleInactiveAfter || d.Reason != "no login since 2026-03-01 (90 days); rule inactive_after (90d)" {
				t.Fatalf("deactivation %q by %q", d.Reason, d.Rule)
			}
			if d.ID != policy.DecisionID("clinic-a", "u-nurse", s.st) || d.WouldBe {
				t.Fatalf("deactivation id %s would-be %v", d.ID, d.WouldBe)
			}
		})
	}
}

func TestWarningsFollowTheLoginTimeOnHourlyTicks(t *testing.T) {
	u := nurse()
	u.LastLoginAt = ptr(day(0).Add(10*time.Hour + 37*time.Minute))
	s := &sim{r: compile(t, live()), u: u, baseline: day(-30)}
	s.run(day(0), day(120), time.Hour)
	at := func(d float64) time.Time { return day(d).Add(11 * time.Hour) }
	expectEvents(t, s.events, warn(14, at(76)), warn(7, at(83)), warn(1, at(89)), deact(at(90)))
	for i, want := range []int{14, 7, 1} {
		if s.events[i].DaysLeft != want {
			t.Fatalf("warning %d: days left %d, want %d", i, s.events[i].DaysLeft, want)
		}
	}
}

func TestALoginCancelsPendingWarningsAndDeactivation(t *testing.T) {
	u := nurse()
	u.LastLoginAt = ptr(day(0))
	s := &sim{r: compile(t, live()), u: u, baseline: day(-30), logins: []time.Time{day(88.5)}}
	s.run(day(0), day(200), policy.Day)
	// The old cycle's 14- and 7-day warnings went out; the login on day 88.5 (seen at the day 89
	// tick) cancelled the rest, and the new cycle runs from it: due on day 178.5.
	expectEvents(t, s.events, warn(14, day(76)), warn(7, day(83)),
		warn(14, day(165)), warn(7, day(172)), warn(1, day(178)), deact(day(179)))
	if !s.events[2].DeactivateOn.Equal(day(178.5)) {
		t.Fatalf("new cycle: %s", story(s.events))
	}
}

func TestDemoAccountRetiredTwoDaysAfterCreationWithAOneDayWarning(t *testing.T) {
	u := policy.User{Site: "clinic-a", UUID: "u-demo", Username: "test-ward3", CreatedAt: day(0).Add(10 * time.Hour)}
	s := &sim{r: compile(t, live()), u: u, baseline: day(-30)}
	s.run(day(0), day(10), time.Hour)
	at := func(d float64) time.Time { return day(d).Add(10 * time.Hour) }
	expectEvents(t, s.events, warn(1, at(1)), deact(at(2)))
	if s.events[0].Rule != policy.RuleDemoMaxAge || s.events[0].DaysLeft != 1 {
		t.Fatalf("demo warning: %s", story(s.events))
	}
	if want := "demo or test account created 2026-03-01 (2 days ago); rule demo_max_age (2d)"; s.events[1].Reason != want {
		t.Fatalf("reason %q, want %q", s.events[1].Reason, want)
	}
}

func TestDemoAccountsAreNotSavedByLoggingIn(t *testing.T) {
	u := policy.User{UUID: "u-demo", Username: "test-ward3", CreatedAt: day(0)}
	s := &sim{r: compile(t, live()), u: u, baseline: day(-30), logins: []time.Time{day(0.5), day(1.5)}}
	s.run(day(0), day(5), time.Hour)
	expectEvents(t, s.events, warn(1, day(1)), deact(day(2)))
}

func TestAnExpiredExemptionTakesEffectWithWarningsFirst(t *testing.T) {
	u := nurse()
	u.LastLoginAt = ptr(day(-200))
	ex := []policy.Exemption{{UserUUID: u.UUID, Reason: "study leave", By: "alice", Until: ptr(day(30)), CreatedAt: day(-100)}}
	s := &sim{r: compile(t, live()), u: u, ex: ex, baseline: day(0)}
	for now := day(0); now.Before(day(30)); now = now.Add(policy.Day) {
		if out := s.tick(now); out.Kind != policy.KindProtected || out.Protection != policy.ProtectedExemption {
			t.Fatalf("day %v: %s, want protected by the exemption", now, out.Kind)
		}
	}
	s.run(day(30), day(100), policy.Day)
	// Found on day 30 long past due: the day moves to day 30 + 14 and the steps follow.
	expectEvents(t, s.events, warn(14, day(30)), warn(7, day(37)), warn(1, day(43)), deact(day(44)))
}

func TestAnActiveExemptionProtectsForever(t *testing.T) {
	u := nurse()
	u.LastLoginAt = ptr(day(-200))
	ex := []policy.Exemption{{UserUUID: u.UUID, Reason: "board member", By: "alice"}}
	s := &sim{r: compile(t, live()), u: u, ex: ex, baseline: day(0)}
	s.run(day(0), day(730), policy.Day)
	expectEvents(t, s.events)
}

func TestAFreshInstallRetiresNobodyBeforeInactiveAfterSinceTheBaseline(t *testing.T) {
	r := compile(t, live())
	baseline := day(0)
	for i := range 50 {
		u := nurse()
		u.UUID = "u-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		u.CreatedAt = day(float64(-1000 + 19*i)) // all created before the install, none seen logging in
		s := &sim{r: r, u: u, baseline: baseline}
		s.run(baseline, day(200), policy.Day)
		expectEvents(t, s.events, warn(14, day(76)), warn(7, day(83)), warn(1, day(89)), deact(day(90)))
		if want := "no login recorded; inactive since 2026-03-01, the later of creation and dormant's start (90 days); rule inactive_after (90d)"; s.events[3].Reason != want {
			t.Fatalf("reason %q, want %q", s.events[3].Reason, want)
		}
	}
}

func TestABackfilledOldLoginIsWarnedFromTheInstallNotRetiredAtOnce(t *testing.T) {
	u := nurse()
	u.LastLoginAt = ptr(day(-365))
	s := &sim{r: compile(t, live()), u: u, baseline: day(0)}
	s.run(day(0), day(30), policy.Day)
	expectEvents(t, s.events, warn(14, day(0)), warn(7, day(7)), warn(1, day(13)), deact(day(14)))
}

func TestAUserFoundBetweenTwoStepsGetsTheFullNoticeFromThen(t *testing.T) {
	// Created 85 days before the install with a backfilled login: due on day 5, past the
	// 14-day step already, so the first tick plans day 14 and starts with the 14-day warning.
	u := nurse()
	u.LastLoginAt = ptr(day(-85))
	s := &sim{r: compile(t, live()), u: u, baseline: day(0)}
	s.run(day(0), day(20), policy.Day)
	expectEvents(t, s.events, warn(14, day(0)), warn(7, day(7)), warn(1, day(13)), deact(day(14)))
}

func TestAPolicyChangeThatMakesUsersOverdueGivesThemTheFullNotice(t *testing.T) {
	u := nurse()
	u.LastLoginAt = ptr(day(0))
	s := &sim{r: compile(t, live()), u: u, baseline: day(-30)}
	s.run(day(0), day(70), policy.Day)
	expectEvents(t, s.events)
	shorter := live()
	shorter.InactiveAfter = 60 * policy.Day
	s.r = compile(t, shorter)
	s.run(day(71), day(100), policy.Day)
	expectEvents(t, s.events, warn(14, day(71)), warn(7, day(78)), warn(1, day(84)), deact(day(85)))
}

func TestTicksThatSkipTheWarningPeriodNeverRetireUnwarned(t *testing.T) {
	u := nurse()
	u.LastLoginAt = ptr(day(0))
	s := &sim{r: compile(t, live()), u: u, baseline: day(-30)}
	s.run(day(0), day(75), policy.Day) // planned for day 90, nothing sent yet
	s.tick(day(95))                    // the clock skipped the whole warning period
	s.run(day(96), day(120), policy.Day)
	expectEvents(t, s.events, warn(14, day(95)), warn(7, day(102)), warn(1, day(108)), deact(day(109)))
}

func TestACoarseTickSendsOnlyTheMostRecentDueStep(t *testing.T) {
	u := nurse()
	u.LastLoginAt = ptr(day(0))
	s := &sim{r: compile(t, live()), u: u, baseline: day(-30)}
	s.run(day(0), day(75), policy.Day)
	s.tick(day(84)) // 14- and 7-day steps both passed: only the 7-day warning goes out
	s.tick(day(85))
	s.tick(day(89.5))
	s.tick(day(90))
	expectEvents(t, s.events, warn(7, day(84)), warn(1, day(89.5)), deact(day(90)))
	if s.events[0].DaysLeft != 6 {
		t.Fatalf("days left %d, want 6", s.events[0].DaysLeft)
	}
}

func TestDryRunFlagsWouldBeDecisionsAndGoingLiveWarnsAfresh(t *testing.T) {
	p := live()
	p.DryRun = true
	u := nurse()
	u.LastLoginAt = ptr(day(0))
	s := &sim{r: compile(t, p), u: u, baseline: day(-30)}
	s.run(day(0), day(100), policy.Day)
	expectEvents(t, s.events, warn(14, day(76)), warn(7, day(83)), warn(1, day(89)), deact(day(90)))
	for _, e := range s.events {
		if !e.WouldBe {
			t.Fatalf("dry run decision not marked would-be: %s", story(s.events))
		}
	}
	dryID := s.events[3].ID
	s.r = compile(t, live())
	s.events = nil
	s.run(day(101), day(130), policy.Day)
	expectEvents(t, s.events, warn(14, day(101)), warn(7, day(108)), warn(1, day(114)), deact(day(115)))
	for _, e := range s.events {
		if e.WouldBe {
			t.Fatalf("live decision marked would-be: %s", story(s.events))
		}
	}
	if s.events[3].ID == dryID {
		t.Fatal("the live decision reuses the dry run's id: consumers would drop it as a duplicate")
	}
}

func TestDuplicateAndOutOfOrderTicksChangeNothing(t *testing.T) {
	u := nurse()
	u.LastLoginAt = ptr(day(0))
	clean := &sim{r: compile(t, live()), u: u, baseline: day(-30)}
	clean.run(day(70), day(100), policy.Day)
	noisy := &sim{r: compile(t, live()), u: u, baseline: day(-30)}
	for d := 70; d <= 100; d++ {
		noisy.tick(day(float64(d)))
		noisy.tick(day(float64(d)))     // redelivered
		noisy.tick(day(float64(d - 5))) // an old tick replayed
	}
	if story(noisy.events) != story(clean.events) || len(clean.events) != 4 {
		t.Fatalf("noisy:\n%s\nclean:\n%s", story(noisy.events), story(clean.events))
	}
}

func TestProtectedAccountsAreNeverDecidedOverTwoYears(t *testing.T) {
	r := compile(t, live())
	for _, mod := range []func(*policy.User){
		func(u *policy.User) { u.Username = "admin" },
		func(u *policy.User) { u.Username = "daemon" },
		func(u *policy.User) { u.Roles = []string{"System Developer"} },
		func(u *policy.User) { u.Retired = true },
	} {
		u := nurse()
		mod(&u)
		s := &sim{r: r, u: u, baseline: day(0)}
		s.run(day(0), day(730), policy.Day)
		expectEvents(t, s.events)
	}
}

func TestAUserRetiredAfterTheRequestAndLaterReactivatedIsWarnedAgain(t *testing.T) {
	u := nurse()
	u.LastLoginAt = ptr(day(0))
	s := &sim{r: compile(t, live()), u: u, baseline: day(-30)}
	s.run(day(0), day(90), policy.Day)
	first := s.events[3].ID
	s.u.Retired = true
	s.run(day(91), day(120), policy.Day)
	s.u.Retired = false // an admin unretired the account; still no login
	s.run(day(121), day(140), policy.Day)
	expectEvents(t, s.events, warn(14, day(76)), warn(7, day(83)), warn(1, day(89)), deact(day(90)),
		warn(14, day(121)), warn(7, day(128)), warn(1, day(134)), deact(day(135)))
	if s.events[7].ID == first {
		t.Fatal("the second cycle reuses the first decision id")
	}
}

func TestCustomRules(t *testing.T) {
	p := live()
	p.CustomRules = []policy.CustomRule{
		{Name: "locums", Expr: `user.properties["contract"] == "locum"`, Action: policy.ActionShorten, Period: 30 * policy.Day},
		{Name: "guests", Expr: `user.username.startsWith("guest") && user.days_since_login >= 1`, Action: policy.ActionShorten, Period: 10 * policy.Day},
		{Name: "board", Expr: `user.email.endsWith("@board.example.org")`, Action: policy.ActionExempt},
	}
	r := compile(t, p)
	t.Run("a shorten rule measures matching users by its own period and names itself", func(t *testing.T) {
		u := nurse()
		u.LastLoginAt = ptr(day(0))
		u.Properties = map[string]string{"contract": "locum"}
		s := &sim{r: r, u: u, baseline: day(-30)}
		s.run(day(0), day(40), policy.Day)
		expectEvents(t, s.events, warn(14, day(16)), warn(7, day(23)), warn(1, day(29)), deact(day(30)))
		if d := s.events[3]; d.Rule != "locums" || !strings.HasSuffix(d.Reason, "rule locums (30d)") {
			t.Fatalf("decision by %q: %q", d.Rule, d.Reason)
		}
	})
	t.Run("a shorten rule warns only at steps shorter than its period", func(t *testing.T) {
		u := nurse()
		u.Username = "guest7"
		u.LastLoginAt = ptr(day(0))
		s := &sim{r: r, u: u, baseline: day(-30)}
		s.run(day(0), day(20), policy.Day)
		expectEvents(t, s.events, warn(7, day(3)), warn(1, day(9)), deact(day(10)))
	})
	t.Run("users the rules do not match keep inactive_after", func(t *testing.T) {
		u := nurse()
		u.LastLoginAt = ptr(day(0))
		s := &sim{r: r, u: u, baseline: day(-30)}
		s.run(day(0), day(95), policy.Day)
		expectEvents(t, s.events, warn(14, day(76)), warn(7, day(83)), warn(1, day(89)), deact(day(90)))
	})
	t.Run("an exempt rule protects and names itself", func(t *testing.T) {
		u := nurse()
		u.Email = "chair@board.example.org"
		out, _ := r.Evaluate(u, policy.State{}, nil, day(0), day(500))
		if out.Kind != policy.KindProtected || out.Protection != "board" {
			t.Fatalf("%s by %q", out.Kind, out.Protection)
		}
	})
}

func TestCustomRulesSeeTheUser(t *testing.T) {
	u := policy.User{Username: "jdoe", SystemID: "12-3", GivenName: "Jane", FamilyName: "Doe", Email: "j@x.org",
		Roles: []string{"Clerk"}, Properties: map[string]string{"dept": "lab"}, CreatedAt: day(-40), LastLoginAt: ptr(day(-10))}
	now := day(0)
	tests := []struct {
		expr string
		want bool
	}{
		{`user.username == "jdoe" && user.system_id == "12-3"`, true},
		{`user.given_name == "Jane" && user.family_name == "Doe" && user.email == "j@x.org"`, true},
		{`"Clerk" in user.roles && user.properties["dept"] == "lab"`, true},
		{`user.age_days == 40 && user.days_since_login == 10 && user.has_logged_in`, true},
		{`user.last_login_at < now - duration("216h") && user.created_at < user.last_activity_at`, true},
		{`user.username.lowerAscii() == "JDOE".lowerAscii()`, true},
		{`"dept" in user.properties && !("ward" in user.properties)`, true},
		{`user.days_since_login > 10`, false},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			p := live()
			p.CustomRules = []policy.CustomRule{{Name: "probe", Expr: tc.expr, Action: policy.ActionExempt}}
			out, _ := compile(t, p).Evaluate(u, policy.State{}, nil, day(-100), now)
			if got := out.Kind == policy.KindProtected; got != tc.want || len(out.RuleErrors) > 0 {
				t.Fatalf("matched %v, want %v (errors %v)", got, tc.want, out.RuleErrors)
			}
		})
	}
}

func TestCompileRefusesBadCustomRules(t *testing.T) {
	tests := []struct {
		name, expr, want string
	}{
		{"a syntax error is refused at compile time", `user.username ==`, "probe"},
		{"an unknown variable is refused at compile time", `user.nickname == "x"`, "nickname"},
		{"an expression that is not a bool is refused", `user.age_days + 1`, "must give a bool"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := live()
			p.CustomRules = []policy.CustomRule{{Name: "probe", Expr: tc.expr, Action: policy.ActionExempt}}
			if _, err := policy.Compile(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestRequestedDeactivationIsNotRepeatedWhileWaitingForTheActuator(t *testing.T) {
	u := nurse()
	u.LastLoginAt = ptr(day(0))
	s := &sim{r: compile(t, live()), u: u, baseline: day(-30)}
	s.run(day(0), day(400), time.Hour)
	if n := len(s.events); n != 4 || s.events[3].Kind != policy.KindDeactivate {
		t.Fatalf("over a year of hourly ticks: %s", story(s.events))
	}
	out, _ := s.r.Evaluate(s.u, s.st, nil, s.baseline, day(401))
	if out.Kind != policy.KindNone || !out.DeactivateOn.Equal(day(90)) {
		t.Fatalf("after the request: %s on %v", out.Kind, out.DeactivateOn)
	}
}
