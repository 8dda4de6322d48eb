package admin

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

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

// TestWeeksSVGSaysWhenNobodyWasRetired: twelve weeks without a retirement draw no empty
// box but a sentence; a week of one retirement next to a busy one still has a bar.
func TestWeeksSVGSaysWhenNobodyWasRetired(t *testing.T) {
	start := time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC)
	weeks := func(counts ...int) []WeekCount {
		out := make([]WeekCount, len(counts))
		for i, n := range counts {
			out[i] = WeekCount{WeekStart: start.AddDate(0, 0, 7*i), Count: n}
		}
		return out
	}
	tests := []struct {
		rule       string
		weeks      []WeekCount
		want, not  []string
		bars       int
		minHeights int // bars at least 2 units high
	}{
		{"no weeks: nothing (the card is not shown)", nil, nil, []string{"<svg", "<p"}, 0, 0},
		{"twelve empty weeks: a sentence, no chart", weeks(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			[]string{`id="weeks-empty"`, "No account was retired in the last 12 weeks (since 7 Sep 2026)."}, []string{"<svg"}, 0, 0},
		{"one empty week: a sentence", weeks(0), []string{"in the last week (since 7 Sep 2026)"}, []string{"<svg"}, 0, 0},
		{"one retirement among empty weeks: the chart", weeks(0, 0, 1, 0),
			[]string{"<svg", "week of 21 Sep 2026: 1 retired"}, []string{"weeks-empty"}, 4, 1},
		{"one next to a thousand still shows", weeks(1000, 1),
			[]string{"week of 14 Sep 2026: 1 retired"}, []string{"weeks-empty"}, 2, 2},
	}
	heights := regexp.MustCompile(`height="(\d+)"><title>`)
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			got := string(weeksSVG(tc.weeks))
			for _, s := range tc.want {
				if !strings.Contains(got, s) {
					t.Errorf("%q is missing from %s", s, got)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(got, s) {
					t.Errorf("%q is in %s", s, got)
				}
			}
			hs := heights.FindAllStringSubmatch(got, -1)
			if len(hs) != tc.bars {
				t.Fatalf("%d bars, want %d", len(hs), tc.bars)
			}
			tall := 0
			for _, m := range hs {
				if n, _ := strconv.Atoi(m[1]); n >= 2 {
					tall++
				}
			}
			if tall != tc.minHeights {
				t.Errorf("%d bars drawn at least 2 high, want %d", tall, tc.minHeights)
			}
		})
	}
}
