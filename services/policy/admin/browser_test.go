package admin_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dormant-dev/dormant/services/policy/admin/browsertest"
)

// TestSignInInABrowser signs in through the real form in Chromium: the CSRF token, cookie
// and redirect all have to work as a browser does them.
func TestSignInInABrowser(t *testing.T) {
	h, _ := newHarness(t)
	b := browsertest.New(t)
	b.Do(chromedp.Navigate(h.srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("username")))
	b.Screenshot("signin")
	b.Do(
		chromedp.SendKeys(chromedp.ID("username"), "manager"),
		chromedp.SendKeys(chromedp.ID("password"), "Manager123"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("tile-active")),
	)
	if got := b.Text("#tile-active"); strings.TrimSpace(got) != "42" {
		t.Fatalf("active users tile = %q", got)
	}
	svgs := browsertest.Value(b, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart .threshold").length`))
	if svgs != 1 {
		t.Fatalf("%d threshold lines on the chart, want 1", svgs)
	}
	b.Screenshot("overview")
}
