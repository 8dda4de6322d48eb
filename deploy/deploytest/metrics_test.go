package deploytest

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCodeMetricsReadsOptionsLiterals: names joined from Namespace/Subsystem/Name (constants
// resolved), the label names of the Vec, const labels, the kind, and test files ignored.
func TestCodeMetricsReadsOptionsLiterals(t *testing.T) {
	got, err := CodeMetrics("testdata/metricsfixture")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		kind   string
		labels []string
	}{
		"dormant_fixture_requests_total": {"counter", []string{"outcome", "site"}},
		"dormant_fixture_seconds":        {"histogram", nil},
		"dormant_fixture_info":           {"gauge", []string{"version"}},
		"dormant_fixture_summary":        {"summary", nil},
		"dormant_fixture_by_site":        {"gauge", []string{"site"}},
	}
	if len(got) != len(want) {
		t.Errorf("found %d metrics, want %d: %v", len(got), len(want), got)
	}
	for name, w := range want {
		m, ok := got[name]
		if !ok {
			t.Errorf("%s not found", name)
			continue
		}
		if m.Kind != w.kind || !reflect.DeepEqual(m.Labels, w.labels) {
			t.Errorf("%s: kind %s labels %v, want %s %v", name, m.Kind, m.Labels, w.kind, w.labels)
		}
	}
}

// TestServicesMetricsFollowTheNamingRule: every metric the services register is found, is
// named dormant_*, and counters end in _total (the Prometheus convention the alerts rely on).
func TestServicesMetricsFollowTheNamingRule(t *testing.T) {
	got, err := CodeMetrics(filepath.Join(repo(t), "services"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["dormant_build_info"]; !ok || len(got) < 5 {
		t.Fatalf("found %d metrics (%v): the extraction misses the services' metrics", len(got), got)
	}
	for name, m := range got {
		if !strings.HasPrefix(name, "dormant_") {
			t.Errorf("%s (%s): not named dormant_*", name, m.Where)
		}
		if m.Kind == "counter" && !strings.HasSuffix(name, "_total") {
			t.Errorf("%s (%s): a counter not ending in _total", name, m.Where)
		}
	}
}

// TestCodeMetricsRefusesUnreadableConstLabels: const labels held in a variable would leave the
// alerts that group by them unchecked, so the scan fails and names the file.
func TestCodeMetricsRefusesUnreadableConstLabels(t *testing.T) {
	_, err := CodeMetrics("testdata/metricsvarlabels")
	if err == nil || !strings.Contains(err.Error(), "ConstLabels is not a literal map") || !strings.Contains(err.Error(), "metrics.go") {
		t.Fatalf("err = %v, want a refusal naming the file", err)
	}
}
