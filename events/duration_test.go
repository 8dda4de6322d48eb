package events

import (
	"testing"
	"time"
)

func TestParseISODuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT1H", time.Hour, true},
		{"PT15M", 15 * time.Minute, true},
		{"PT30S", 30 * time.Second, true},
		{"PT0.5S", 500 * time.Millisecond, true},
		{"P1D", 24 * time.Hour, true},
		{"P1DT2H3M4S", 26*time.Hour + 3*time.Minute + 4*time.Second, true},
		{"P2W", 14 * 24 * time.Hour, true},
		{"P0D", 0, true},
		{"", 0, false},
		{"P", 0, false},
		{"PT", 0, false},
		{"P1DT", 0, false},
		{"1H", 0, false},
		{"P1M", 0, false}, // months depend on the calendar
		{"P1Y", 0, false},
		{"PT1M1H", 0, false}, // out of order
		{"PT1H1H", 0, false},
		{"PT-1H", 0, false},
		{"PT+1H", 0, false},
		{"P1W1D", 0, false},
		{"PT99999999999999999999H", 0, false},
		{"P9999999999999W", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseISODuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseISODuration(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatISODurationRoundTrips(t *testing.T) {
	cases := map[time.Duration]string{
		time.Hour:                     "PT1H",
		7 * 24 * time.Hour:            "P1W",
		26*time.Hour + 90*time.Second: "P1DT2H1M30S",
		1500 * time.Millisecond:       "PT1.5S",
		0:                             "P0D",
	}
	for d, want := range cases {
		got := FormatISODuration(d)
		if got != want {
			t.Errorf("FormatISODuration(%v) = %q, want %q", d, got, want)
		}
		back, err := ParseISODuration(got)
		if err != nil || back != d {
			t.Errorf("ParseISODuration(%q) = %v, %v; want %v", got, back, err, d)
		}
	}
}
