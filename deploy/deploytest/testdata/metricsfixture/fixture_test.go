package metricsfixture

import prom "github.com/prometheus/client_golang/prometheus"

// Tests are not read: this metric must not appear.
var _ = prom.CounterOpts{Name: "dormant_only_in_a_test_total"}
