package events

import (
	"strings"
	"testing"
)

// TestSiteFromSubjectAgreesWithSplitting keeps the hand-cut SiteFromSubject equal to its
// first version, which split the subject on dots.
func TestSiteFromSubjectAgreesWithSplitting(t *testing.T) {
	reference := func(subject string) (string, bool) {
		parts := strings.Split(subject, ".")
		if len(parts) < 3 || len(parts) > 4 || !perSiteGroups[parts[1]] {
			return "", false
		}
		if (parts[1] == "auth" || parts[1] == "security") != (len(parts) == 3) {
			return "", false
		}
		if !ValidSite(parts[2]) {
			return "", false
		}
		return parts[2], true
	}
	cases := []struct {
		subject string
		site    string // "" when refused
	}{
		{"dormant.auth.clinic-a", "clinic-a"},
		{"dormant.security.clinic-a", "clinic-a"},
		{"dormant.records.clinic-a.lastlogin", "clinic-a"},
		{"x.decisions.c1.warned", "c1"},
		{"dormant.actions.clinic-a.deactivated", "clinic-a"},
		{"dormant.auth.clinic-a.extra", ""},
		{"dormant.records.clinic-a", ""},
		{"dormant.records.clinic-a.lastlogin.more", ""},
		{"dormant.clock.tick", ""},
		{"dormant.dlq.auth", ""},
		{"dormant.auth", ""},
		{"dormant", ""},
		{"", ""},
		{"dormant.auth.", ""},
		{"dormant.auth.Clinic_A", ""},
		{".auth.clinic-a", "clinic-a"},
		{"dormant..clinic-a", ""},
		{"dormant.records..x", ""},
	}
	for _, c := range cases {
		site, ok := SiteFromSubject(c.subject)
		if ok != (c.site != "") || site != c.site {
			t.Errorf("SiteFromSubject(%q) = %q, %v, want %q", c.subject, site, ok, c.site)
		}
		if rs, rok := reference(c.subject); rs != site || rok != ok {
			t.Errorf("SiteFromSubject(%q) = %q, %v; splitting gives %q, %v", c.subject, site, ok, rs, rok)
		}
	}
}
