package events

import (
	"slices"
	"testing"
)

func TestDefaultNamespaceSubjectsMatchTheDesign(t *testing.T) {
	n := DefaultNamespace
	cases := map[string]string{
		n.Auth("clinic-a"):                  "dormant.auth.clinic-a",
		n.AuthAll():                         "dormant.auth.>",
		n.LastLogin("clinic-a"):             "dormant.records.clinic-a.lastlogin",
		n.UserSynced("clinic-a"):            "dormant.records.clinic-a.user",
		n.FailedLogin("clinic-a"):           "dormant.records.clinic-a.failed-login",
		n.RecordsAll():                      "dormant.records.>",
		n.Tick():                            "dormant.clock.tick",
		n.ClockAll():                        "dormant.clock.>",
		n.Warned("clinic-a"):                "dormant.decisions.clinic-a.warned",
		n.DeactivationRequested("clinic-a"): "dormant.decisions.clinic-a.deactivation-requested",
		n.Held("clinic-a"):                  "dormant.decisions.clinic-a.held",
		n.ReactivationRequested("clinic-a"): "dormant.decisions.clinic-a.reactivation-requested",
		n.DecisionsAll():                    "dormant.decisions.>",
		n.Deactivated("clinic-a"):           "dormant.actions.clinic-a.deactivated",
		n.DeactivationFailed("clinic-a"):    "dormant.actions.clinic-a.failed",
		n.Reactivated("clinic-a"):           "dormant.actions.clinic-a.reactivated",
		n.ActionsAll():                      "dormant.actions.>",
		n.Security("clinic-a"):              "dormant.security.clinic-a",
		n.SecurityAll():                     "dormant.security.>",
		n.DLQ("auth"):                       "dormant.dlq.auth",
		n.DLQAll():                          "dormant.dlq.>",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestStreamsDeriveFromTheRoot(t *testing.T) {
	got := Namespace{Root: "t1a2b3c"}.Streams()
	want := []string{"T1A2B3C_AUTH", "T1A2B3C_RECORDS", "T1A2B3C_CLOCK", "T1A2B3C_DECISIONS", "T1A2B3C_ACTIONS", "T1A2B3C_SECURITY", "T1A2B3C_DLQ"}
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
		if len(s.Subjects) != 1 {
			t.Errorf("%s: one filter subject per stream keeps NATS 2.9 consumers simple, got %v", s.Name, s.Subjects)
		}
	}
	if !slices.Equal(names, want) {
		t.Fatalf("got %v, want %v", names, want)
	}
	n := DefaultNamespace
	accessors := []string{n.StreamAuth(), n.StreamRecords(), n.StreamClock(), n.StreamDecisions(), n.StreamActions(), n.StreamSecurity(), n.StreamDLQ()}
	for i, s := range n.Streams() {
		if accessors[i] != s.Name {
			t.Errorf("accessor %d = %s, stream %s", i, accessors[i], s.Name)
		}
	}
}

// Every subject SubjectFor gives must fall in exactly one stream, or JetStream would either
// drop the event or refuse the overlapping streams.
func TestEverySubjectLandsInExactlyOneStream(t *testing.T) {
	n := DefaultNamespace
	for typ, d := range fullSamples() {
		subj := n.SubjectFor("clinic-a", d)
		if subj == "" {
			t.Errorf("%s: no subject", typ)
			continue
		}
		hits := 0
		for _, s := range n.Streams() {
			if matchSubject(s.Subjects[0], subj) {
				hits++
			}
		}
		if hits != 1 {
			t.Errorf("%s on %s falls in %d streams", typ, subj, hits)
		}
		site, ok := SiteFromSubject(subj)
		if PerSite(typ) && (!ok || site != "clinic-a") {
			t.Errorf("SiteFromSubject(%q) = %q, %v", subj, site, ok)
		}
		if !PerSite(typ) && ok {
			t.Errorf("SiteFromSubject(%q) found site %q on a global subject", subj, site)
		}
	}
}

// matchSubject is NATS wildcard matching, enough for the filters above.
func matchSubject(filter, subject string) bool {
	f, s := splitDots(filter), splitDots(subject)
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func TestSiteFromSubject(t *testing.T) {
	cases := []struct {
		subject string
		site    string
		ok      bool
	}{
		{"dormant.auth.clinic-a", "clinic-a", true},
		{"t1.records.b.lastlogin", "b", true},
		{"dormant.security.clinic-a", "clinic-a", true},
		{"dormant.clock.tick", "", false},
		{"dormant.dlq.auth", "", false},
		{"dormant.auth.clinic-a.extra", "", false},
		{"dormant.records.clinic-a", "", false},
		{"dormant.auth.Clinic", "", false},
		{"dormant.auth.*", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		site, ok := SiteFromSubject(tc.subject)
		if site != tc.site || ok != tc.ok {
			t.Errorf("SiteFromSubject(%q) = %q, %v; want %q, %v", tc.subject, site, ok, tc.site, tc.ok)
		}
	}
}

func TestNamespaceRootIsOneToken(t *testing.T) {
	for root, ok := range map[string]bool{"dormant": true, "t1a2b3c": true, "a_b-c": true, "": false, "a.b": false, "Dormant": false, "a>": false} {
		if err := (Namespace{Root: root}).Validate(); (err == nil) != ok {
			t.Errorf("root %q: err %v, want ok=%v", root, err, ok)
		}
	}
}

func TestValidSite(t *testing.T) {
	for site, ok := range map[string]bool{"clinic-a": true, "x": true, "": false, "a.b": false, "A": false, "a_b": false, string(make([]byte, 41)): false} {
		if ValidSite(site) != ok {
			t.Errorf("ValidSite(%q) != %v", site, ok)
		}
	}
}
