package service

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are login-ingest's Prometheus series. Names are part of the operations contract:
// alert rules and dashboards under deploy/ refer to them.
type metrics struct {
	events        *prometheus.CounterVec
	eventsOut     *prometheus.CounterVec
	deadLetters   *prometheus.CounterVec
	batchSize     prometheus.Histogram
	batchFailures prometheus.Counter
	commitSeconds prometheus.Histogram
	pending       prometheus.GaugeFunc
	httpRequests  *prometheus.CounterVec
	httpEvents    *prometheus.CounterVec
}

// Outcomes of one authentication event, the label of dormant_ingest_events_total.
const (
	outcomeRecorded = "recorded"    // a successful login, stored
	outcomeFailed   = "failed"      // a failed login: counted and published, never stored
	outcomeLogout   = "logout"      // a logout: counted only
	outcomeDead     = "dead_letter" // refused: sent to the DLQ
)

func newMetrics(reg prometheus.Registerer, pending func() float64) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_ingest_events_total",
			Help: "Authentication events consumed, by site and outcome (recorded, failed, logout, dead_letter).",
		}, []string{"site", "outcome"}),
		eventsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_ingest_events_published_total",
			Help: "Events published after a batch committed, by type (dormant.lastlogin.recorded, dormant.login.failed).",
		}, []string{"type"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_ingest_dead_letters_total",
			Help: "Events sent to the DLQ, by reason.",
		}, []string{"reason"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dormant_ingest_batch_size",
			Help:    "Messages per processed batch.",
			Buckets: []float64{1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000},
		}),
		batchFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dormant_ingest_batch_failures_total",
			Help: "Batches that could not be stored or published and were left for redelivery.",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dormant_ingest_commit_seconds",
			Help:    "Time to store one batch of last logins in the database.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		pending: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dormant_ingest_consumer_pending",
			Help: "Authentication events in the stream not yet delivered to login-ingest (consumer lag).",
		}, pending),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_ingest_http_requests_total",
			Help: "Requests to the HTTP intake, by status code.",
		}, []string{"code"}),
		httpEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_ingest_http_events_total",
			Help: "Events received over HTTP, by outcome (accepted: acknowledged by JetStream; rejected: refused and dead-lettered).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.events, m.eventsOut, m.deadLetters, m.batchSize, m.batchFailures, m.commitSeconds, m.pending, m.httpRequests, m.httpEvents)
	return m
}
