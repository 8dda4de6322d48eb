package policy_test

import (
	"testing"

	"github.com/dormant-dev/dormant/services/policy"
)

func TestValuesCoverEveryKeyAndReadBack(t *testing.T) {
	p := policy.DefaultPolicy()
	v := p.Values()
	for _, k := range policy.Keys {
		if _, ok := v[k]; !ok {
			t.Errorf("Values has no entry for key %s", k)
		}
	}
	if len(v) != len(policy.Keys) {
		t.Errorf("Values has %d entries for %d keys", len(v), len(policy.Keys))
	}
	// What the page shows, the file accepts: load the shown values back and compare.
	doc := "inactive_after: " + v["inactive_after"] + "\nwarn_before: [" + v["warn_before"] + "]\ndemo:\n  max_age: " + v["demo.max_age"] + "\n"
	l, err := policy.LoadYAML([]byte(doc), nil)
	if err != nil {
		t.Fatalf("shown values do not load: %v\n%s", err, doc)
	}
	if l.Policy.InactiveAfter != p.InactiveAfter || l.Policy.Demo.MaxAge != p.Demo.MaxAge || len(l.Policy.WarnBefore) != len(p.WarnBefore) {
		t.Fatalf("round trip changed the policy: %+v", l.Policy)
	}
}
