package dormant_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/dormant"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/policy/admin/browsertest"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// TestAdminPageInABrowser is the admin's path through the real all-in-one process, against
// the fake OpenMRS: sign in, see the chart and the upcoming list, exempt a user and see them
// leave it, approve a held batch and see it retired in OpenMRS, reactivate one of them.
// Screenshots of every page land in artifacts/screenshots.
func TestAdminPageInABrowser(t *testing.T) {
	b := browsertest.New(t)
	fake := openmrstest.New()
	defer fake.Close()
	fake.AddRole("User Manager", "Get Users", "Edit Users")
	fake.AddUser(openmrstest.UserSpec{Username: "manager", Password: "Manager123", Roles: []string{"User Manager"}, GivenName: "Mary", FamilyName: "Manager"})
	created := time.Now().UTC().AddDate(-1, 0, 0)
	users := map[string]string{}
	for _, name := range []string{"alice", "bob", "carol", "dave", "erin"} {
		users[name] = fake.AddUser(openmrstest.UserSpec{Username: name, Password: "Secret123", GivenName: strings.ToUpper(name[:1]) + name[1:], FamilyName: "Nurse", Created: created})
	}

	cfg := testConfig(t)
	cfg.NATSListen = ""
	sites := fmt.Sprintf(`sites:
  - id: %s
    openmrs_url: %s
    openmrs_user: admin
    openmrs_password_env: DORMANT_E2E_OPENMRS_PASSWORD
    ingest_token_env: DORMANT_E2E_TOKEN
    policy:
      enabled: true
      dry_run: false
      inactive_after: 90d
      warn_before: [14d, 7d, 1d]
      max_deactivations_per_tick: 2
      feed_silence_window: 30d
`, site, fake.URL())
	if err := os.WriteFile(cfg.ConfigFile, []byte(sites), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DORMANT_E2E_OPENMRS_PASSWORD", "Admin123")
	cfg.Policy.ClockEnabled = false // the test's ticks are the only time
	cfg.Policy.Admin.SessionKey = strings.Repeat("k", 32)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	app := startApp(t, ctx, cfg)
	base := "http://" + app.Addr()
	store := app.Policy.Store()
	ns := cfg.Bus.Namespace()

	// The roster sync at start brings the users in.
	for name, uuid := range users {
		waitFor(t, name+" synced from OpenMRS", func() bool {
			u, err := store.User(ctx, site, uuid)
			return err == nil && !u.CreatedAt.IsZero()
		})
	}
	// Simulated time starts today: what the admin does now (the exemption) is in force for
	// every later tick.
	t0 := time.Now().UTC().Truncate(24 * time.Hour)
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		postLogin(t, base+"/v1/events", users[name], name, t0.AddDate(0, 0, -100))
	}
	postLogin(t, base+"/v1/events", users["erin"], "erin", t0.AddDate(0, 0, -5))
	waitFor(t, "logins projected", func() bool {
		u, err := store.User(ctx, site, users["alice"])
		return err == nil && u.LastLoginAt != nil
	})

	tick := func(at time.Time) {
		t.Helper()
		ev, err := policysvc.TickEvent(at, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		publishEvent(t, ctx, app, ns.Tick(), ev)
		waitFor(t, "tick "+at.Format("2006-01-02")+" decided", func() bool {
			ss, err := store.SiteState(ctx, site)
			return err == nil && !ss.LastTick.Before(at)
		})
	}
	tick(t0)

	// Sign in, see the overview with its chart, and the upcoming list.
	b.Do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("username")))
	b.Screenshot("signin")
	b.Do(
		chromedp.SendKeys(chromedp.ID("username"), "manager"),
		chromedp.SendKeys(chromedp.ID("password"), "Manager123"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("tile-active")),
	)
	if n := browsertest.Value(b, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart rect.bar").length`)); n == 0 {
		t.Fatal("the overview shows no age chart")
	}
	b.Screenshot("overview")
	b.Do(chromedp.Navigate(base+"/sites/"+site+"/upcoming"), chromedp.WaitVisible(chromedp.ID("upcoming")))
	upcoming := func() string { return b.Text("#upcoming tbody") }
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		if !strings.Contains(upcoming(), name) {
			t.Fatalf("%s is not in the upcoming list:\n%s", name, upcoming())
		}
	}
	b.Screenshot("upcoming")
	// On a phone the list still fits: nothing wider than the screen.
	b.Do(chromedp.EmulateViewport(390, 844))
	if w := browsertest.Value(b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("on a 390px phone the upcoming page is %dpx wide", w)
	}
	if !browsertest.Value(b, chromedp.Evaluate[bool](`document.querySelector("tr[data-user] td.actions a").offsetWidth > 0`)) {
		t.Error("on a phone the exempt action is hidden")
	}
	b.Screenshot("upcoming-phone")
	b.Do(chromedp.EmulateViewport(1280, 900))

	// What bob still holds in OpenMRS, from his row's handover link. The fake site has no
	// appointments module and bob is not a provider: the page says so rather than "none".
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-user="`+users["bob"]+`"] a[href$="/users/`+users["bob"]+`"]`)),
		chromedp.WaitVisible(chromedp.ID("handover-roles")))
	if h := b.Text("main"); !strings.Contains(h, "Handover: bob") || !strings.Contains(h, "not a provider") {
		t.Fatalf("bob's handover page:\n%s", h)
	}
	b.Screenshot("handover")
	b.Do(chromedp.Navigate(base+"/sites/"+site+"/upcoming"), chromedp.WaitVisible(chromedp.ID("upcoming")))

	// Exempt dave from his row's link; he leaves the list.
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-user="`+users["dave"]+`"] a[href*="/exemptions"]`)), chromedp.WaitVisible(chromedp.ID("reason")))
	b.Do(chromedp.SendKeys(chromedp.ID("reason"), "on transfer to the district office"), chromedp.Submit(chromedp.ID("reason")),
		chromedp.WaitVisible(chromedp.ID("exemptions")))
	b.Screenshot("exemptions")
	b.Do(chromedp.Navigate(base+"/sites/"+site+"/upcoming"), chromedp.WaitVisible(chromedp.ID("upcoming")))
	if strings.Contains(upcoming(), "dave") {
		t.Fatalf("dave is still upcoming after his exemption:\n%s", upcoming())
	}

	// Days pass; three retirements fall due on the same tick, more than the limit of two, so
	// the batch is held.
	for d := 1; d <= 14; d++ {
		tick(t0.AddDate(0, 0, d))
	}
	b.Do(chromedp.Navigate(base+"/sites/"+site+"/held"), chromedp.WaitVisible(chromedp.CSS("button.approve")))
	b.Screenshot("held")
	if held := b.Text("main"); !strings.Contains(held, "3 deactivations") || !strings.Contains(held, "max_deactivations_per_tick") {
		t.Fatalf("held batch page:\n%s", held)
	}
	if len(fake.Retirements()) != 0 {
		t.Fatalf("retirements before approval: %+v", fake.Retirements())
	}
	b.Do(chromedp.Click(chromedp.CSS("button.approve")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	for _, name := range []string{"alice", "bob", "carol"} {
		waitFor(t, name+" retired in OpenMRS", func() bool { u, _ := fake.User(users[name]); return u.Retired })
	}
	if u, _ := fake.User(users["dave"]); u.Retired {
		t.Fatal("the exempt user was retired")
	}
	// The projection learns of the retirements from the actuator's events, not only at the
	// next roster sync.
	waitFor(t, "bob retired in the policy projection", func() bool {
		u, err := store.User(ctx, site, users["bob"])
		return err == nil && u.Retired
	})

	// Reactivate alice, giving a reason.
	waitFor(t, "the retired list", func() bool {
		b.Do(chromedp.Navigate(base+"/sites/"+site+"/retired"), chromedp.WaitReady(chromedp.CSS("main")))
		return strings.Contains(b.Text("main"), "alice")
	})
	b.Screenshot("retired")
	b.Do(chromedp.SendKeys(chromedp.ID("reason-"+users["alice"]), "back from study leave"),
		chromedp.Submit(chromedp.ID("reason-"+users["alice"])), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if u, _ := fake.User(users["alice"]); u.Retired {
		t.Fatal("alice is still retired in OpenMRS after reactivation")
	}
	waitFor(t, "alice active again in the policy projection", func() bool {
		u, err := store.User(ctx, site, users["alice"])
		return err == nil && !u.Retired
	})

	b.Do(chromedp.Navigate(base+"/sites/"+site+"/history"), chromedp.WaitVisible(chromedp.ID("history")))
	if h := b.Text("#history"); !strings.Contains(h, "reactivated") || !strings.Contains(h, "approved") || !strings.Contains(h, "exemption_added") {
		t.Fatalf("the history lacks the admin's actions:\n%s", h)
	}
	b.Screenshot("history")
	b.Do(chromedp.Navigate(base+"/sites/"+site+"/policy?at="+t0.AddDate(0, 0, 30).Format("2006-01-02")+"&inactive_after=30d"), chromedp.WaitVisible(chromedp.ID("policy")))
	b.Screenshot("policy-whatif")
	if whatif := b.Text("#whatif"); !strings.Contains(whatif, "erin") || strings.Contains(whatif, "bob") {
		t.Fatalf("the what-if with a 30-day period must name erin and not the retired bob:\n%s", whatif)
	}
}

func publishEvent(t *testing.T, ctx context.Context, app *dormant.App, subject string, ev cloudevents.Event) {
	t.Helper()
	msg, err := events.ToNATS(subject, ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Infra.JS.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
}
