package deploytest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func catalog(t *testing.T) Catalog {
	t.Helper()
	ms, err := AllMetrics(filepath.Join(repo(t), "services"))
	if err != nil {
		t.Fatal(err)
	}
	return NewCatalog(ms)
}

// fixtureCatalog is a small, fixed catalog for the expression rules themselves.
var fixtureCatalog = NewCatalog(map[string]Metric{
	"dormant_x_events_total": {Name: "dormant_x_events_total", Kind: "counter", Labels: []string{"outcome", "site"}},
	"dormant_x_seconds":      {Name: "dormant_x_seconds", Kind: "histogram"},
	"dormant_x_pending":      {Name: "dormant_x_pending", Kind: "gauge"},
})

func TestCheckExpr(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		wantErr string
	}{
		{`sum by (site) (rate(dormant_x_events_total{outcome="recorded"}[5m]))`, ""},
		{`histogram_quantile(0.99, sum by (le) (rate(dormant_x_seconds_bucket[5m])))`, ""},
		{`dormant_x_seconds_sum / dormant_x_seconds_count`, ""},
		{`max by (instance, job) (dormant_x_pending) > 10 and on (instance) up == 1`, ""},
		{`{__name__="dormant_x_pending"}`, ""},
		{`rate(dormant_x_event_total[5m])`, "selects dormant_x_event_total, which no code registers"},
		{`dormant_x_seconds`, "selects dormant_x_seconds, which no code registers"}, // a histogram has no bare series
		{`dormant_x_events_total{sight="a"}`, "matches label sight"},
		{`sum by (le) (dormant_x_events_total)`, "groups by label le"},
		{`sum by (site) (dormant_x_pending)`, "groups by label site"},
		{`sum(rate(dormant_x_events_total[5m])`, "parse"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			err := fixtureCatalog.CheckExpr(tc.expr)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tc.wantErr)
		})
	}
}

// TestAlertRulesUseRegisteredMetrics: the shipped rules parse as Prometheus parses them and use
// only what the code registers; each alert's runbook is a heading of docs/operations.md.
func TestAlertRulesUseRegisteredMetrics(t *testing.T) {
	root := repo(t)
	alerts, err := catalog(t).CheckRules(filepath.Join(root, "deploy/prometheus/dormant-alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) < 8 {
		t.Fatalf("%d alerts", len(alerts))
	}
	anchors := headingAnchors(t, filepath.Join(root, "docs/operations.md"))
	raw, _ := os.ReadFile(filepath.Join(root, "deploy/prometheus/dormant-alerts.yaml"))
	for _, m := range regexp.MustCompile(`runbook_url: \S*/docs/operations\.md#(\S+)`).FindAllStringSubmatch(string(raw), -1) {
		if !anchors[m[1]] {
			t.Errorf("runbook_url #%s: docs/operations.md has no such heading", m[1])
		}
	}
}

// headingAnchors are the GitHub anchors of a markdown file's headings.
func headingAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(string(raw), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			h = strings.TrimSpace(strings.TrimLeft(h, "#"))
			out[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
		}
	}
	return out
}

// TestAlertRulesRejectARenamedMetric: the deliberately wrong fixture names a metric the code
// does not register (as if the code had renamed it), and the check fails.
func TestAlertRulesRejectARenamedMetric(t *testing.T) {
	c := catalog(t)
	for _, tc := range []struct {
		name, old, new, wantErr string
	}{
		{"renamed metric", "dormant_ingest_consumer_pending", "dormant_ingest_pending_events", "dormant_ingest_pending_events, which no code registers"},
		{"renamed label", `sum by (site) (increase(dormant_policy_decisions_total{kind="held"}`, `sum by (site) (increase(dormant_policy_decisions_total{decision="held"}`, "matches label decision"},
		{"missing runbook", "runbook_url: https://github.com/dormant-dev/dormant/blob/main/docs/operations.md#held-batch", "dashboard: none", "annotation runbook_url is missing"},
		{"unknown field (promtool is strict)", "        for: 30m\n", "        for: 30m\n        pending: 30m\n", "field pending not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := mutate(t, filepath.Join(repo(t), "deploy/prometheus/dormant-alerts.yaml"), t.TempDir(), "alerts.yaml", tc.old, tc.new)
			_, err := c.CheckRules(path)
			wantErr(t, err, tc.wantErr)
		})
	}
}

func TestDashboardUsesRegisteredMetrics(t *testing.T) {
	n, err := catalog(t).CheckDashboard(filepath.Join(repo(t), "deploy/grafana/dormant-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if n < 15 {
		t.Fatalf("checked %d expressions: the dashboard's panels were not found", n)
	}
}

func TestDashboardRejectsWrongFixtures(t *testing.T) {
	c := catalog(t)
	for _, tc := range []struct {
		name, old, new, wantErr string
	}{
		{"renamed metric", "dormant_actuator_retire_seconds_bucket", "dormant_actuator_retirement_seconds_bucket", "dormant_actuator_retirement_seconds_bucket, which no code registers"},
		{"renamed metric in a variable", "label_values(dormant_ingest_events_total, site)\",\"refId", "label_values(dormant_ingest_event_total, site)\",\"refId", "variable site"},
		{"label a metric lacks", "sum by (site, channel) (increase(dormant_notifier_sent_total", "sum by (site, channel) (increase(dormant_actuator_retries_total", "matches label site on dormant_actuator_retries_total"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(repo(t), "deploy/grafana/dormant-dashboard.json")
			// The dashboard is indented JSON; mutate its compact form so fixtures match one line.
			compact := compactJSON(t, src)
			path := mutate(t, compact, t.TempDir(), "dashboard.json", tc.old, tc.new)
			_, err := c.CheckDashboard(path)
			wantErr(t, err, tc.wantErr)
		})
	}
}
