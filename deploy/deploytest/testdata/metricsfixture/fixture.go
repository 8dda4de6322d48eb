// Package metricsfixture is read by TestCodeMetrics with go/ast, never built.
package metricsfixture

import (
	prom "github.com/prometheus/client_golang/prometheus"
)

const (
	namespace = "dormant"
	subsystem = "fixture"
	requests  = "requests_total"
)

var labelName = "ignored: not a constant"

func register(reg prom.Registerer) {
	site := []string{"site"}
	reg.MustRegister(
		prom.NewGaugeVec(prom.GaugeOpts{Name: "dormant_fixture_by_site"}, site),
		prom.NewCounterVec(prom.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: requests, Help: "h"}, []string{"site", "outcome"}),
		prom.NewHistogram(prom.HistogramOpts{Name: "dormant_fixture_seconds", Help: "h"}),
		prom.NewGaugeFunc(prom.GaugeOpts{Name: "dormant_fixture_info", ConstLabels: prom.Labels{"version": "x"}}, func() float64 { return 1 }),
	)
	opts := &prom.SummaryOpts{Name: namespace + "_fixture_summary"}
	_ = opts
	_ = labelName
}
