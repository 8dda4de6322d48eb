package siteconfig_test

import (
	"regexp"
	"testing"

	"github.com/dormant-dev/dormant/services/platform/siteconfig"
)

var siteIDPattern = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)

// FuzzParse: no document makes Parse panic or hang, and what it accepts is valid: every site
// has a well-formed id, listed once.
func FuzzParse(f *testing.F) {
	f.Add([]byte("sites:\n  - id: clinic-a\n    openmrs_url: https://emr.example.org/openmrs\n    ingest_token_env: TOKEN\n"))
	f.Add([]byte("sites:\n  - id: clinic-a\n    ingest_token_env: OLD\n    ingest_tokens: [{name: new, env: NEW}]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		file, err := siteconfig.Parse(doc)
		if err != nil {
			return
		}
		if err := file.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		seen := map[string]bool{}
		for _, s := range file.Sites {
			if !siteIDPattern.MatchString(s.ID) || seen[s.ID] {
				t.Fatalf("accepted site id %q (twice: %v)", s.ID, seen[s.ID])
			}
			seen[s.ID] = true
		}
	})
}
