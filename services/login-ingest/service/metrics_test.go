package service

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dormant-dev/dormant/events"
)

// TestMetricsCoverTheIssue: events by site and outcome, events published by type, batch
// sizes, commit latency, consumer lag and dead letters by reason are all exported and move
// with what the consumer does.
func TestMetricsCoverTheIssue(t *testing.T) {
	r := newRig(t, engines[0].dsn(t))
	for i := range 4 {
		r.publishEv(r.ns.Auth(siteA), loginEv(t, siteA, user(i), h(i)))
	}
	r.publishEv(r.ns.Auth(siteA), loginEv(t, siteA, user(9), fixedNow.Add(h(2).Sub(t0))))
	o := r.options()
	in, err := New(r.ctx, r.deps(nil), o)
	if err != nil {
		t.Fatal(err)
	}
	reg := r.reg
	if lag := testutil.ToFloat64(in.metrics.pending); lag != 5 {
		t.Errorf("consumer lag before consuming = %v, want 5", lag)
	}
	go func() { _ = in.Run(r.ctx) }()
	r.settled(o.Consumer)

	want := map[string]int{
		"dormant_ingest_events_total":           2, // site clinic-a: recorded, dead_letter
		"dormant_ingest_events_published_total": 2, // lastlogin.recorded, login.failed
		"dormant_ingest_dead_letters_total":     1, // future_timestamp
		"dormant_ingest_batch_size":             1,
		"dormant_ingest_commit_seconds":         1,
		"dormant_ingest_consumer_pending":       1,
		"dormant_ingest_batch_failures_total":   1,
	}
	for name, series := range want {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != series {
			t.Errorf("%s: %d series (%v), want %d", name, n, err, series)
		}
	}
	checks := []struct {
		rule string
		got  float64
		want float64
	}{
		{"successful logins are counted by site", testutil.ToFloat64(in.metrics.events.WithLabelValues(siteA, outcomeRecorded)), 4},
		{"refused events are counted by site", testutil.ToFloat64(in.metrics.events.WithLabelValues(siteA, outcomeDead)), 1},
		{"dead letters are counted by reason", testutil.ToFloat64(in.metrics.deadLetters.WithLabelValues(reasonFuture)), 1},
		{"record events are counted by type", testutil.ToFloat64(in.metrics.eventsOut.WithLabelValues(events.TypeLastLoginRecorded)), 4},
		{"consumer lag falls to zero", testutil.ToFloat64(in.metrics.pending), 0},
		{"no batch failed", testutil.ToFloat64(in.metrics.batchFailures), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.rule, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(in.metrics.batchSize); n != 1 {
		t.Errorf("batch size histogram: %d series", n)
	}
}
