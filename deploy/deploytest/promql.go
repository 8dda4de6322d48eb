package deploytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// TargetLabels are the labels Prometheus attaches to every scraped series (job and instance),
// plus those the Kubernetes service discovery relabelling in docs/operations.md adds.
var TargetLabels = []string{"job", "instance", "namespace", "pod", "container", "service"}

// synthetic are series Prometheus itself writes for every target.
var synthetic = map[string]Metric{
	"up":                      {Name: "up", Kind: "gauge"},
	"scrape_duration_seconds": {Name: "scrape_duration_seconds", Kind: "gauge"},
}

// Catalog answers which series exist and which labels they carry.
type Catalog struct {
	series map[string]Metric // series name → family
}

// NewCatalog indexes the metric families by the series names Prometheus stores.
func NewCatalog(metrics map[string]Metric) Catalog {
	c := Catalog{series: map[string]Metric{}}
	for _, m := range synthetic {
		c.series[m.Name] = m
	}
	for _, m := range metrics {
		for _, s := range m.Series() {
			c.series[s] = m
		}
	}
	return c
}

func (c Catalog) labelsOf(series string) ([]string, bool) {
	m, ok := c.series[series]
	if !ok {
		return nil, false
	}
	ls := append(slices.Clone(m.Labels), TargetLabels...)
	if strings.HasSuffix(series, "_bucket") && m.Kind == "histogram" {
		ls = append(ls, "le")
	}
	if m.Kind == "summary" && series == m.Name {
		ls = append(ls, "quantile")
	}
	return ls, true
}

// CheckExpr parses a PromQL expression and checks that every series it selects is one the
// code exports, that label matchers name labels of that series, and that by/without clauses
// name labels some selected series carries.
func (c Catalog) CheckExpr(expr string) error {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return fmt.Errorf("parse %q: %w", expr, err)
	}
	var errs []error
	known := map[string]bool{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		ls, ok := c.labelsOf(name)
		if !ok {
			errs = append(errs, fmt.Errorf("%q selects %s, which no code registers", expr, name))
			return nil
		}
		for _, l := range ls {
			known[l] = true
		}
		for _, m := range vs.LabelMatchers {
			if m.Name != model.MetricNameLabel && !slices.Contains(ls, m.Name) {
				errs = append(errs, fmt.Errorf("%q matches label %s on %s, which has labels %v", expr, m.Name, name, ls))
			}
		}
		return nil
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		var grouping []string
		switch n := n.(type) {
		case *parser.AggregateExpr:
			grouping = n.Grouping
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				grouping = append(slices.Clone(n.VectorMatching.MatchingLabels), n.VectorMatching.Include...)
			}
		}
		for _, l := range grouping {
			if !known[l] {
				errs = append(errs, fmt.Errorf("%q groups by label %s, which none of its series carries", expr, l))
			}
		}
		return nil
	})
	return errors.Join(errs...)
}

// CheckRules parses a Prometheus rules file strictly (unknown fields are errors, as
// `promtool check rules` does) and checks every expression against the catalog. Every alert
// must have a summary and a runbook_url annotation.
func (c Catalog) CheckRules(path string) (alerts []string, err error) {
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if err := c.CheckExpr(r.Expr); err != nil {
				errs = append(errs, fmt.Errorf("group %s, rule %s%s: %w", g.Name, r.Alert, r.Record, err))
			}
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			for _, a := range []string{"summary", "runbook_url"} {
				if r.Annotations[a] == "" {
					errs = append(errs, fmt.Errorf("alert %s: annotation %s is missing", r.Alert, a))
				}
			}
			if r.Labels["severity"] == "" {
				errs = append(errs, fmt.Errorf("alert %s: label severity is missing", r.Alert))
			}
		}
	}
	return alerts, errors.Join(errs...)
}

// grafanaVars are Grafana's interval variables, which PromQL cannot parse; they stand for
// durations.
var grafanaVars = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)

var labelValues = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// CheckDashboard reads a Grafana dashboard JSON and checks every panel target's PromQL and
// every label_values() template query. It returns how many expressions it checked.
func (c Catalog) CheckDashboard(path string) (int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	if d.Title == "" || d.UID == "" {
		errs = append(errs, fmt.Errorf("%s: dashboard needs a title and a uid", path))
	}
	n := 0
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, t := range p.Targets {
				if t.Expr == "" {
					continue
				}
				n++
				if err := c.CheckExpr(grafanaVars.ReplaceAllString(t.Expr, "5m")); err != nil {
					errs = append(errs, fmt.Errorf("panel %q: %w", p.Title, err))
				}
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		q := v.queryText()
		if v.Type != "query" || q == "" {
			continue
		}
		n++
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			errs = append(errs, fmt.Errorf("variable %s: query %q: only label_values(selector, label) is checked; use it", v.Name, q))
			continue
		}
		if err := c.CheckExpr(m[1]); err != nil {
			errs = append(errs, fmt.Errorf("variable %s: %w", v.Name, err))
			continue
		}
		e, _ := parser.NewParser(parser.Options{}).ParseExpr(m[1])
		ok := false
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, is := n.(*parser.VectorSelector); is {
				ls, _ := c.labelsOf(vs.Name)
				ok = ok || slices.Contains(ls, m[2])
			}
			return nil
		})
		if !ok {
			errs = append(errs, fmt.Errorf("variable %s: label_values asks for label %s, which %s does not carry", v.Name, m[2], m[1]))
		}
	}
	return n, errors.Join(errs...)
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

type variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

// queryText is the variable's query, which Grafana stores as a string or as {"query": "..."}.
func (v variable) queryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &o) == nil {
		return o.Query
	}
	return ""
}
