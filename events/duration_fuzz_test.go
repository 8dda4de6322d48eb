package events

import (
	"testing"
)

// FuzzParseISODuration: no text makes the parser panic; what it accepts is not negative and
// survives FormatISODuration and back unchanged.
func FuzzParseISODuration(f *testing.F) {
	f.Add("P1DT2H3M4.5S")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseISODuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseISODuration(%q) = %s", s, d)
		}
		back, err := ParseISODuration(FormatISODuration(d))
		if err != nil || back != d {
			t.Fatalf("%q → %s → %q → %s, %v", s, d, FormatISODuration(d), back, err)
		}
	})
}
