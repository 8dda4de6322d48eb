package dormant_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/events/eventstest"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/policy/admin/browsertest"
)

// TestReactivationRequestsInABrowser is a retired user's path and then the admin's, through
// the real all-in-one process against the fake OpenMRS: the public page takes a request for
// a retired account and one for a username nobody has, alike; the admin queue shows both;
// approving the first unretires it in OpenMRS, rejecting the second records why; then the
// audit page. Every event the requests emitted matches its schema.
func TestReactivationRequestsInABrowser(t *testing.T) {
	b := browsertest.New(t)
	fake := openmrstest.New()
	defer fake.Close()
	fake.AddRole("User Manager", "Get Users", "Edit Users")
	fake.AddUser(openmrstest.UserSpec{Username: "manager", Password: "Manager123", Roles: []string{"User Manager"}, GivenName: "Mary", FamilyName: "Manager"})
	gina := fake.AddUser(openmrstest.UserSpec{Username: "gina", Password: "Secret123", GivenName: "Gina", FamilyName: "Nurse",
		Created: time.Now().UTC().AddDate(-1, 0, 0), Retired: true, RetireReason: "no login since 2026-05-01 (120 days); rule inactive_after (90d)"})

	cfg := testConfig(t)
	cfg.NATSListen = ""
	sites := fmt.Sprintf(`sites:
  - id: %s
    openmrs_url: %s
    openmrs_user: admin
    openmrs_password_env: DORMANT_E2E_OPENMRS_PASSWORD
    ingest_token_env: DORMANT_E2E_TOKEN
    policy: {enabled: true, dry_run: false}
`, site, fake.URL())
	if err := os.WriteFile(cfg.ConfigFile, []byte(sites), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DORMANT_E2E_OPENMRS_PASSWORD", "Admin123")
	cfg.Policy.ClockEnabled = false
	cfg.Policy.Admin.SessionKey = strings.Repeat("k", 32)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	app := startApp(t, ctx, cfg)
	base := "http://" + app.Addr()
	store := app.Policy.Store()
	ns := cfg.Bus.Namespace()
	waitFor(t, "gina synced from OpenMRS as retired", func() bool {
		u, err := store.User(ctx, site, gina)
		return err == nil && u.Retired
	})

	// The public page, with no sign-in: a request for gina and one for a username nobody has.
	ask := func(username, note string) string {
		t.Helper()
		b.Do(chromedp.Navigate(base+"/request-reactivation?site="+site), chromedp.WaitVisible(chromedp.ID("username")))
		b.Do(chromedp.SendKeys(chromedp.ID("username"), username), chromedp.SendKeys(chromedp.ID("note"), note),
			chromedp.Submit(chromedp.ID("username")), chromedp.WaitVisible(chromedp.ID("request-done")))
		return strings.Replace(b.Text("#request-reactivation"), username, "USER", 1)
	}
	b.Do(chromedp.Navigate(base+"/request-reactivation?site="+site), chromedp.WaitVisible(chromedp.ID("username")))
	b.Screenshot("request-reactivation")
	answerGina := ask("gina", "back from maternity leave")
	b.Screenshot("request-reactivation-done")
	if answerNobody := ask("nobody-here", "let me in"); answerNobody != answerGina {
		t.Fatalf("the answers differ:\n%s\n---\n%s", answerGina, answerNobody)
	}
	requested := readStream(t, ctx, app.Infra.JS, ns.StreamDecisions(), ns.ReactivationRequested(site), 2)
	ids := map[string]string{}
	for _, ev := range requested {
		eventstest.AssertMatchesSchema(t, ev)
		d, err := events.DecodeAs[*events.ReactivationRequested](ev)
		if err != nil {
			t.Fatal(err)
		}
		ids[d.Username] = d.RequestID
		if d.ClientIP != "127.0.0.1" || ev.ID() != d.RequestID {
			t.Errorf("request event %+v (id %s)", d, ev.ID())
		}
	}

	// The admin's queue: gina's account is known and retired, the other is not an account.
	b.Do(chromedp.Navigate(base+"/signin?site="+site), chromedp.WaitVisible(chromedp.ID("username")))
	b.Do(
		chromedp.SendKeys(chromedp.ID("username"), "manager"),
		chromedp.SendKeys(chromedp.ID("password"), "Manager123"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("tile-active")),
	)
	b.Do(chromedp.Navigate(base+"/sites/"+site+"/requests"), chromedp.WaitVisible(chromedp.ID("requests")))
	b.Screenshot("requests")
	row := func(name string) string { return b.Text(`tr[data-request="` + ids[name] + `"]`) }
	if r := row("gina"); !strings.Contains(r, "retired") || !strings.Contains(r, "back from maternity leave") {
		t.Fatalf("gina's row: %q", r)
	}
	if r := row("nobody-here"); !strings.Contains(r, "no such account") {
		t.Fatalf("the unknown username's row: %q", r)
	}
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-request="`+ids["gina"]+`"] button.approve`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if u, _ := fake.User(gina); u.Retired {
		t.Fatal("gina is still retired in OpenMRS after the approval")
	}
	// Wait for the form's own page load to finish (its field is gone from the new page):
	// navigating while it is in flight would abort it.
	b.Do(chromedp.SendKeys(chromedp.ID("reject-"+ids["nobody-here"]), "no such person at the clinic"),
		chromedp.Submit(chromedp.ID("reject-"+ids["nobody-here"])),
		chromedp.WaitNotPresent(chromedp.ID("reject-"+ids["nobody-here"])))
	var decided string
	waitFor(t, "the rejection in the decided list", func() bool {
		b.Do(chromedp.Navigate(base+"/sites/"+site+"/requests"), chromedp.WaitVisible(chromedp.ID("requests-decided")))
		decided = b.Text("#requests-decided")
		return strings.Contains(decided, "rejected")
	})
	if !strings.Contains(decided, "approved by manager") || !strings.Contains(decided, "rejected by manager") || !strings.Contains(decided, "no such person at the clinic") {
		t.Fatalf("decided requests:\n%s", decided)
	}
	b.Screenshot("requests-decided")
	reactivated := readStream(t, ctx, app.Infra.JS, ns.StreamActions(), ns.Reactivated(site), 1)[0]
	eventstest.AssertMatchesSchema(t, reactivated)
	if d, err := events.DecodeAs[*events.UserReactivated](reactivated); err != nil || d.UserUUID != gina || d.By != "manager" ||
		d.RequestID != ids["gina"] || !strings.Contains(d.Reason, "back from maternity leave") {
		t.Fatalf("reactivated event %+v, %v", d, err)
	}
	waitFor(t, "gina active again in the policy projection", func() bool {
		u, err := store.User(ctx, site, gina)
		return err == nil && !u.Retired
	})

	// The audit page gives the printable report of the period.
	b.Do(chromedp.Navigate(base+"/sites/"+site+"/audit"), chromedp.WaitVisible(chromedp.ID("audit-form")))
	b.Do(chromedp.Submit(chromedp.ID("from")), chromedp.WaitVisible(chromedp.ID("totals")))
	if h := b.Text("h1"); !strings.Contains(h, "Account retirement audit: site "+site) {
		t.Fatalf("audit report heading %q", h)
	}
	b.Screenshot("audit-report")
}
