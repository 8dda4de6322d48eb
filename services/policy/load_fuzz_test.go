package policy_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

const century = 100 * 365 * policy.Day

// FuzzLoadYAML: no policy block or global property makes Load panic, and what it accepts
// compiles, measures every period as a positive duration of at most a century, and leaves
// every rule at least one warning.
func FuzzLoadYAML(f *testing.F) {
	f.Add([]byte("enabled: true\ninactive_after: 90d\nwarn_before: [14d, 7d, 1d]\n"), "dormant.inactiveAfterDays", "30")
	f.Fuzz(func(t *testing.T, block []byte, property, value string) {
		l, err := policy.LoadYAML(block, map[string]string{property: value})
		if err != nil {
			return
		}
		if _, err := policy.Compile(l.Policy); err != nil {
			t.Fatalf("Load accepted a policy Compile refuses: %v", err)
		}
		if d := l.Policy.InactiveAfter; d <= 0 || d > century {
			t.Fatalf("inactive_after %s accepted", d)
		}
		// Steps longer than a rule's period are allowed (they apply to the longer rules and
		// are skipped for the shorter), but every rule must keep one, or its users would be
		// retired unwarned.
		periods := []time.Duration{l.Policy.InactiveAfter, l.Policy.Demo.MaxAge}
		for _, r := range l.Policy.CustomRules {
			if r.Period != 0 {
				periods = append(periods, r.Period)
			}
		}
		for _, period := range periods {
			if s := slices.Min(l.Policy.WarnBefore); s <= 0 || s >= period {
				t.Fatalf("smallest warning step %s accepted with a rule period of %s", s, period)
			}
		}
	})
}

// FuzzParseDuration: no text makes ParseDuration panic, and days or ISO 8601 never wrap
// round: what is accepted in those forms lies between zero and a century.
func FuzzParseDuration(f *testing.F) {
	f.Add("P1DT12H")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := policy.ParseDuration(s)
		if err != nil {
			return
		}
		s = strings.TrimSpace(s)
		if (strings.HasPrefix(s, "P") || strings.Contains(s, "d")) && (d < 0 || d > century) {
			t.Fatalf("ParseDuration(%q) = %s", s, d)
		}
	})
}
