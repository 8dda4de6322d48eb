package roster

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the roster sync's Prometheus metrics, one set for every site. A nil *Metrics
// records nothing, for tools that run a sync without a registry.
type Metrics struct {
	read         *prometheus.GaugeVec
	expected     *prometheus.GaugeVec
	inProgress   *prometheus.GaugeVec
	published    *prometheus.CounterVec
	dups         *prometheus.CounterVec
	invalidUsers *prometheus.CounterVec
	failures     *prometheus.CounterVec
	lastOK       *prometheus.GaugeVec
	duration     *prometheus.GaugeVec
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	site := []string{"site"}
	m := &Metrics{
		read: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dormant_roster_sync_users_read",
			Help: "Users the roster sync in progress (or the last one) has read, across restarts."}, site),
		expected: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dormant_roster_sync_users_expected",
			Help: "Users the last finished roster sync read: the total the sync in progress heads for."}, site),
		inProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dormant_roster_sync_running",
			Help: "1 while a roster sync of the site is in progress."}, site),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dormant_roster_users_published_total",
			Help: "dormant.user.synced events published for users whose facts changed."}, site),
		dups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dormant_roster_users_duplicate_total",
			Help: "Published user events JetStream dropped as already stored (a resumed batch)."}, site),
		invalidUsers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dormant_roster_users_invalid_total",
			Help: "Users whose facts break the event contract and were not synced."}, site),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dormant_roster_sync_failures_total",
			Help: "Roster syncs that stopped on an error (they resume from their checkpoint)."}, site),
		lastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dormant_roster_sync_last_success_timestamp_seconds",
			Help: "When the last roster sync of the site finished."}, site),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dormant_roster_sync_last_duration_seconds",
			Help: "How long the last call that finished a roster sync took."}, site),
	}
	reg.MustRegister(m.read, m.expected, m.inProgress, m.published, m.dups, m.invalidUsers, m.failures, m.lastOK, m.duration)
	return m
}

func (m *Metrics) running(site string, cp Checkpoint) {
	if m == nil {
		return
	}
	m.inProgress.WithLabelValues(site).Set(1)
	m.read.WithLabelValues(site).Set(float64(cp.Read))
	m.expected.WithLabelValues(site).Set(float64(cp.LastTotal))
}

func (m *Metrics) batch(site string, cp Checkpoint, published, dups int) {
	if m == nil {
		return
	}
	m.read.WithLabelValues(site).Set(float64(cp.Read))
	m.published.WithLabelValues(site).Add(float64(published))
	m.dups.WithLabelValues(site).Add(float64(dups))
}

func (m *Metrics) invalidUser(site string) {
	if m == nil {
		return
	}
	m.invalidUsers.WithLabelValues(site).Inc()
}

func (m *Metrics) failed(site string) {
	if m == nil {
		return
	}
	m.inProgress.WithLabelValues(site).Set(0)
	m.failures.WithLabelValues(site).Inc()
}

func (m *Metrics) finished(site string, cp Checkpoint, took time.Duration) {
	if m == nil {
		return
	}
	m.inProgress.WithLabelValues(site).Set(0)
	m.read.WithLabelValues(site).Set(float64(cp.Read))
	m.expected.WithLabelValues(site).Set(float64(cp.LastTotal))
	m.lastOK.WithLabelValues(site).Set(float64(cp.LastCompletedAt.Unix()))
	m.duration.WithLabelValues(site).Set(took.Seconds())
}
