package admin

import "testing"

// TestPlaceLabelsStaggersOnlyWhatWouldOverlap: labels far apart share the row nearest the
// plot; close ones climb a row each; none runs off the chart.
func TestPlaceLabelsStaggersOnlyWhatWouldOverlap(t *testing.T) {
	xOf := func(days int) int { return padL + min(days, buckets*bucketDays)*3 }
	tests := []struct {
		rule     string
		ths      []Threshold
		wantRows map[string]int
	}{
		{"far apart: one row", []Threshold{{"retire", 90}, {"first warning", 30}}, map[string]int{"retire": 0, "first warning": 0}},
		{"two weeks apart: the right one climbs", []Threshold{{"retire", 90}, {"first warning", 76}}, map[string]int{"first warning": 0, "retire": 1}},
		{"the same day: the second climbs", []Threshold{{"a", 30}, {"b", 30}}, map[string]int{"a": 0, "b": 1}},
		{"a third label goes back down when the first row has room again",
			[]Threshold{{"first warning", 76}, {"retire", 90}, {"archive", 150}}, map[string]int{"first warning": 0, "retire": 1, "archive": 0}},
		{"no thresholds", nil, map[string]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			labels := placeLabels(tc.ths, xOf)
			if len(labels) != len(tc.ths) {
				t.Fatalf("%d labels for %d thresholds", len(labels), len(tc.ths))
			}
			for i, l := range labels {
				if want := tc.wantRows[l.text]; l.row != want {
					t.Errorf("%q in row %d, want %d", l.text, l.row, want)
				}
				if l.textX-l.width/2 < 0 || l.textX+l.width/2 > chartW {
					t.Errorf("%q runs off the chart: %.1f±%.1f", l.text, l.textX, l.width/2)
				}
				for _, o := range labels[:i] {
					if o.row == l.row && o.textX+o.width/2+labelGap > l.textX-l.width/2 && l.textX+l.width/2+labelGap > o.textX-o.width/2 {
						t.Errorf("%q and %q overlap in row %d", o.text, l.text, l.row)
					}
				}
			}
		})
	}
	t.Run("labels at the chart's edges stay inside, their lines where the days say", func(t *testing.T) {
		labels := placeLabels([]Threshold{{"warned from the first day", 0}, {"retired after a year", 365}}, xOf)
		for _, l := range labels {
			if l.textX-l.width/2 < 0 || l.textX+l.width/2 > chartW {
				t.Errorf("%q runs off the chart: %.1f±%.1f", l.text, l.textX, l.width/2)
			}
		}
		if labels[0].lineX != padL || labels[1].lineX != padL+buckets*bucketDays*3 {
			t.Errorf("lines at %d and %d, want %d and %d", labels[0].lineX, labels[1].lineX, padL, padL+buckets*bucketDays*3)
		}
	})
}
