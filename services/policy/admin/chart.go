package admin

import (
	"fmt"
	"html/template"
	"sort"
	"strings"
	"unicode/utf8"
)

// The age chart: users in AgeBucketCount buckets of AgeBucketDays, with the policy's
// thresholds drawn as vertical lines. Plain inline SVG: no script, works offline.
const (
	bucketDays = AgeBucketDays
	buckets    = AgeBucketCount
	chartW     = 640
	plotH      = 156
	padL       = 40
	padB       = 36
	barGap     = 4
	// A threshold label's row is labelRowH high; the first row's baseline is labelBase above
	// the plot. labelCharW over-estimates a character of the 11px label font, so labels the
	// layout keeps apart never touch; labelGap is the least room between two labels.
	labelRowH  = 14
	labelBase  = 8
	labelCharW = 6.6
	labelGap   = 6
)

type overviewData struct {
	Overview
	Chart template.HTML
}

// chartBuckets lays the backend's counts on the chart's buckets; counts beyond the last
// bucket (a backend with narrower or more buckets) join it rather than vanish.
func chartBuckets(counts []int) [buckets]int {
	var b [buckets]int
	for i, n := range counts {
		b[min(i, buckets-1)] += n
	}
	return b
}

// histogramSVG draws the chart. Every number comes from the data; labels are escaped.
func histogramSVG(o Overview) template.HTML {
	counts := chartBuckets(o.AgeBuckets)
	peak := 1
	for _, c := range counts {
		peak = max(peak, c)
	}
	plotW := chartW - padL - 10
	barW := plotW / buckets
	labels := placeLabels(o.Thresholds, func(days int) int { return padL + min(days, buckets*bucketDays)*barW/bucketDays })
	rows := 1
	for _, l := range labels {
		rows = max(rows, l.row+1)
	}
	// The plot moves down by a row for every row of labels, so labels never reach the
	// peak's tick or each other.
	padT := labelBase + 6 + rows*labelRowH
	chartH := padT + plotH + padB
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="age-chart-title"><title id="age-chart-title">Active users by days since last activity</title>`, chartW, chartH)
	fmt.Fprintf(&sb, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, padL, padT+plotH, padL+plotW, padT+plotH)
	fmt.Fprintf(&sb, `<text class="tick" x="%d" y="%d" text-anchor="end">%d</text>`, padL-6, padT+8, peak)
	fmt.Fprintf(&sb, `<text class="tick" x="%d" y="%d" text-anchor="end">0</text>`, padL-6, padT+plotH)
	for i, c := range counts {
		h := c * plotH / peak
		x := padL + i*barW
		label := fmt.Sprintf("%d–%d days", i*bucketDays, (i+1)*bucketDays-1)
		if i == buckets-1 {
			label = fmt.Sprintf("%d days or more", i*bucketDays)
		}
		fmt.Fprintf(&sb, `<rect class="bar" x="%d" y="%d" width="%d" height="%d"><title>%s: %d users</title></rect>`,
			x+barGap/2, padT+plotH-h, barW-barGap, h, template.HTMLEscapeString(label), c)
		if i%2 == 0 {
			fmt.Fprintf(&sb, `<text class="tick" x="%d" y="%d" text-anchor="middle">%d</text>`, x, padT+plotH+14, i*bucketDays)
		}
	}
	// The lines stop at the plot's top, so a line never crosses another threshold's label.
	for _, l := range labels {
		fmt.Fprintf(&sb, `<line class="threshold" x1="%d" y1="%d" x2="%d" y2="%d"/><text class="threshold-label" x="%.1f" y="%d" text-anchor="middle">%s</text>`,
			l.lineX, padT-3, l.lineX, padT+plotH, l.textX, padT-labelBase-l.row*labelRowH, template.HTMLEscapeString(l.text))
	}
	fmt.Fprintf(&sb, `<text class="tick" x="%d" y="%d" text-anchor="middle">days since last activity</text></svg>`, padL+plotW/2, chartH-4)
	return template.HTML(sb.String())
}

// thresholdLabel is a threshold's line and label as drawn: the label centred on textX (the
// line's x, moved inside the chart when it would run off an edge) in row (0 nearest the plot).
type thresholdLabel struct {
	text         string
	lineX, row   int
	textX, width float64
}

// placeLabels gives every threshold label the lowest row where it keeps labelGap from the
// labels already in that row, taking them from left to right: labels of close thresholds
// stagger upwards instead of overlapping, however many there are.
func placeLabels(ths []Threshold, xOf func(days int) int) []thresholdLabel {
	labels := make([]thresholdLabel, 0, len(ths))
	for _, th := range ths {
		w := float64(utf8.RuneCountInString(th.Label)) * labelCharW
		x := float64(xOf(th.Days))
		labels = append(labels, thresholdLabel{text: th.Label, lineX: int(x), width: w,
			textX: min(max(x, w/2), chartW-w/2)})
	}
	sort.SliceStable(labels, func(i, j int) bool { return labels[i].textX < labels[j].textX })
	var rowEnds []float64 // the right edge of the last label in each row
	for i := range labels {
		l := &labels[i]
		left := l.textX - l.width/2
		l.row = len(rowEnds)
		for r, end := range rowEnds {
			if left >= end+labelGap {
				l.row = r
				break
			}
		}
		if l.row == len(rowEnds) {
			rowEnds = append(rowEnds, 0)
		}
		rowEnds[l.row] = l.textX + l.width/2
	}
	return labels
}

// weeksSVG draws retirements per week as small bars. Weeks without a retirement have no
// bar, so when none has one the chart would be an empty box an admin cannot tell from a
// drawing that failed: it says so in words instead.
func weeksSVG(weeks []WeekCount) template.HTML {
	if len(weeks) == 0 {
		return ""
	}
	peak := 0
	for _, w := range weeks {
		peak = max(peak, w.Count)
	}
	if peak == 0 {
		period := fmt.Sprintf("%d weeks", len(weeks))
		if len(weeks) == 1 {
			period = "week"
		}
		return template.HTML(fmt.Sprintf(`<p class="muted empty" id="weeks-empty">No account was retired in the last %s (since %s).</p>`,
			period, template.HTMLEscapeString(weeks[0].WeekStart.Format("2 Jan 2006"))))
	}
	const w, h, pad = 640, 120, 20
	barW := (w - 2*pad) / len(weeks)
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="weeks-title"><title id="weeks-title">Retirements per week</title>`, w, h)
	for i, wk := range weeks {
		bh := wk.Count * (h - 2*pad) / peak
		if wk.Count > 0 {
			// One retirement in a week of a hundred would round to no bar at all.
			bh = max(bh, 2)
		}
		fmt.Fprintf(&sb, `<rect class="bar retired" x="%d" y="%d" width="%d" height="%d"><title>week of %s: %d retired</title></rect>`,
			pad+i*barW+1, h-pad-bh, barW-2, bh, wk.WeekStart.Format("2 Jan 2006"), wk.Count)
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

var funcs = template.FuncMap{
	"weeks": weeksSVG,
	"kinds": func() []string { return HistoryKinds },
	"ago": func(days int) string {
		if days == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", days)
	},
}

// HistoryKinds are the kinds of history entry the filter offers.
var HistoryKinds = []string{"warned", "deactivation_requested", "deactivated", "deactivation_failed", "superseded", "held", "approved", "rejected", "released", "cancelled", "failure_recorded", "exemption_added", "exemption_ended", "exemption_removed", "reactivated"}
