package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// TestBadPolicyIsRefusedNamingTheKey: a hostile or broken policy block or global property is
// refused as a whole, with the key it is about named, quickly, and never loads a policy
// nobody meant (an overflowing duration must not wrap round to a few days).
func TestBadPolicyIsRefusedNamingTheKey(t *testing.T) {
	deepCEL := strings.Repeat("(", 5000) + "true" + strings.Repeat(")", 5000)
	tests := []struct {
		rule  string
		block string
		props map[string]string
		want  string
	}{
		{"YAML that does not parse is refused", "inactive_after: [90d", nil, "policy"},
		{"a tab-indented block is refused", "demo:\n\tmax_age: 2d", nil, "policy"},
		{"a key of the wrong type is refused naming the line", "enabled: maybe", nil, "line 1"},
		{"a list where a value belongs is refused naming the line", "inactive_after: [90d, 30d]", nil, "line 1"},
		{"an ISO duration that would overflow is refused, not wrapped to 5 days", "inactive_after: P122003W", nil, "inactive_after"},
		{"days plus an overflowing remainder are refused", "inactive_after: 36500d2562047h", nil, "inactive_after"},
		{"a global property that would overflow is refused", "", map[string]string{"dormant.inactiveAfterDays": "P122003W"}, "dormant.inactiveAfterDays"},
		{"a negative duration is refused", "inactive_after: -5d", nil, "inactive_after"},
		{"an empty warning list is refused", "warn_before: []", nil, "warn_before"},
		{"a negative batch limit is refused", "max_deactivations_per_tick: -1", nil, "max_deactivations_per_tick"},
		{"a percentage over 100 is refused", "", map[string]string{"dormant.maxDeactivationsPercent": "150"}, "max_deactivations_percent"},
		{"a percentage that is not a number is refused", "", map[string]string{"dormant.maxDeactivationsPercent": "NaN"}, "dormant.maxDeactivationsPercent"},
		{"a system-id pattern that is no regular expression is refused", "demo: {system_id_pattern: '(['}", nil, "system_id_pattern"},
		{"CEL that does not parse is refused", "custom_rules: [{name: r, expr: 'user.username ==', action: exempt}]", nil, "custom_rules"},
		{"CEL naming an unknown variable is refused at load", "custom_rules: [{name: r, expr: 'user.nmae == \"x\"', action: exempt}]", nil, "custom_rules"},
		{"CEL that is not a bool is refused", "custom_rules: [{name: r, expr: 'user.username', action: exempt}]", nil, "custom_rules"},
		{"CEL nested thousands deep is refused", "custom_rules: [{name: r, expr: '" + deepCEL + "', action: exempt}]", nil, "custom_rules"},
		{"a rule name carrying markup is refused", "custom_rules: [{name: '<script>x</script>', expr: 'true', action: exempt}]", nil, "custom_rules"},
		{"a rule without an action is refused", "custom_rules: [{name: r, expr: 'true'}]", nil, "custom_rules"},
		{"an unknown key inside demo is refused", "demo: {max_agee: 2d}", nil, "max_agee"},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			start := time.Now()
			l, err := policy.LoadYAML([]byte(tc.block), tc.props)
			if err == nil {
				t.Fatalf("accepted: inactive_after %s, warn_before %v", l.Policy.InactiveAfter, l.Policy.WarnBefore)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s to refuse", d)
			}
		})
	}
}

// TestPolicyDurationsNeverWrap: no duration written in days or ISO 8601 wraps round or
// exceeds a century (a plain Go duration is bounded by Go itself).
func TestPolicyDurationsNeverWrap(t *testing.T) {
	for _, s := range []string{"P122003W", "P15250W", "P9999999D", "PT2562047H", "P36500DT2562047H", "36500d2562047h", "36501", "P2147483647W"} {
		d, err := policy.ParseDuration(s)
		if err == nil && (d <= 0 || d > 100*365*policy.Day) {
			t.Errorf("ParseDuration(%q) = %s: wrapped or beyond a century", s, d)
		}
	}
}
