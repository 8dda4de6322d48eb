package admin_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dormant-dev/dormant/services/policy/admin"
	"github.com/dormant-dev/dormant/services/policy/admin/browsertest"
)

// layoutProblems measures the overview as Chromium draws it: threshold labels whose boxes
// overlap or leave the chart, and tiles that wrap onto a second row. Empty: none.
const layoutProblems = `(() => {
  const out = [];
  const svg = document.querySelector("svg.chart").getBoundingClientRect();
  const boxes = [...document.querySelectorAll("svg.chart .threshold-label")].map(e => [e.textContent, e.getBoundingClientRect()]);
  for (const [name, b] of boxes) {
    if (b.left < svg.left - 0.5 || b.right > svg.right + 0.5 || b.top < svg.top - 0.5) out.push(name + " leaves the chart");
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, p] = boxes[i], [b, q] = boxes[j];
    if (p.left < q.right && q.left < p.right && p.top < q.bottom && q.top < p.bottom) out.push(a + " overlaps " + b);
  }
  const tops = new Set([...document.querySelectorAll(".tiles li")].map(e => e.getBoundingClientRect().top));
  if (tops.size !== 1) out.push("the tiles take " + tops.size + " rows");
  return out.join("; ");
})()`

// openOverview signs the browser in as the manager and waits for the overview it lands on.
func openOverview(b *browsertest.Browser, h *harness) {
	b.Do(chromedp.Navigate(h.srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "manager"),
		chromedp.SendKeys(chromedp.ID("password"), "Manager123"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("tile-active")))
}

// TestThresholdLabelsNeverOverlapInABrowser draws the age chart with thresholds close
// together, at its edges and past its end, and measures the labels in Chromium.
func TestThresholdLabelsNeverOverlapInABrowser(t *testing.T) {
	tests := []struct {
		name       string
		thresholds []admin.Threshold
	}{
		{"warning-two-weeks-before", []admin.Threshold{{Label: "retire", Days: 90}, {Label: "first warning", Days: 76}}},
		{"five-within-ten-days", []admin.Threshold{{Label: "retire", Days: 90}, {Label: "first warning", Days: 80}, {Label: "second warning", Days: 83},
			{Label: "third warning", Days: 86}, {Label: "last warning", Days: 89}}},
		{"at-the-edges", []admin.Threshold{{Label: "warned from the first day", Days: 0}, {Label: "retired after a year", Days: 365}, {Label: "and one more", Days: 180}}},
		{"same-day", []admin.Threshold{{Label: "retire", Days: 30}, {Label: "first warning", Days: 30}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHarness(t)
			b := browsertest.New(t) // its own: another harness's session cookie would sign it in
			h.backend.o.Thresholds = tc.thresholds
			openOverview(b, h)
			if n := browsertest.Value(b, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart .threshold-label").length`)); n != len(tc.thresholds) {
				t.Fatalf("%d threshold labels, want %d", n, len(tc.thresholds))
			}
			if problems := browsertest.Value(b, chromedp.Evaluate[string](layoutProblems)); problems != "" {
				b.Screenshot(fmt.Sprintf("overview-%s", tc.name))
				t.Fatal(problems)
			}
			b.Screenshot(fmt.Sprintf("overview-%s", tc.name))
		})
	}
}

// TestRetirementsPerWeekInABrowser: the overview's weekly card says in words that nobody
// was retired rather than drawing an empty box, and draws visible bars when somebody was.
func TestRetirementsPerWeekInABrowser(t *testing.T) {
	start := time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC)
	weeks := func(counts ...int) []admin.WeekCount {
		out := make([]admin.WeekCount, len(counts))
		for i, n := range counts {
			out[i] = admin.WeekCount{WeekStart: start.AddDate(0, 0, 7*i), Count: n}
		}
		return out
	}
	tests := []struct {
		name  string
		weeks []admin.WeekCount
		text  string // what the card says, below its heading
		bars  int    // bars drawn with a visible height
	}{
		{"nobody-retired", weeks(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "No account was retired in the last 12 weeks (since 7 Sep 2026).", 0},
		{"one-busy-week-and-one-quiet", weeks(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 400, 1), "", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHarness(t)
			b := browsertest.New(t)
			h.backend.o.RetiredPerWeek = tc.weeks
			openOverview(b, h)
			card := `[...document.querySelectorAll("section.card")].find(s => s.querySelector("h2").textContent === "Retirements per week")`
			got := browsertest.Value(b, chromedp.Evaluate[string](`(() => { const c = `+card+`; if (!c) return "NO CARD";
  const p = c.querySelector("p"); return p && p.getBoundingClientRect().height > 0 ? p.textContent : ""; })()`))
			if got != tc.text {
				b.Screenshot("overview-weeks-" + tc.name)
				t.Fatalf("the card says %q, want %q", got, tc.text)
			}
			if n := browsertest.Value(b, chromedp.Evaluate[int](`[...(`+card+`).querySelectorAll("rect.bar")].filter(r => r.getBoundingClientRect().height >= 1).length`)); n != tc.bars {
				b.Screenshot("overview-weeks-" + tc.name)
				t.Fatalf("%d visible bars, want %d", n, tc.bars)
			}
			b.Screenshot("overview-weeks-" + tc.name)
		})
	}
}
