package siteconfig_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/platform/siteconfig"
)

// TestBadSitesFileIsRefusedNamingTheKey: a broken or hostile sites file is refused whole,
// quickly, with the key (or line) at fault named; a secret written into the file is refused.
func TestBadSitesFileIsRefusedNamingTheKey(t *testing.T) {
	laughs := "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
	for i := 'b'; i <= 'j'; i++ {
		laughs += string(i) + ": &" + string(i) + " [" + strings.Repeat("*"+string(i-1)+",", 9) + "*" + string(i-1) + "]\n"
	}
	tests := []struct {
		rule string
		doc  string
		want string
	}{
		{"YAML that does not parse is refused", "sites: [ {id: clinic-a", "decode"},
		{"tabs for indentation are refused", "sites:\n\t- id: clinic-a", "decode"},
		{"a list of sites that is a string is refused", "sites: clinic-a", "line 1"},
		{"an unknown top-level key is refused", "site:\n  - id: clinic-a", "site"},
		{"a misspelt site key is refused", "sites:\n  - id: clinic-a\n    openmrs_pasword_env: X", "openmrs_pasword_env"},
		{"a password written into the file is refused", "sites:\n  - id: clinic-a\n    openmrs_password: s3cret", "openmrs_password"},
		{"an upper-case site id is refused", "sites:\n  - id: Clinic-A", "sites[0].id"},
		{"a site id with subject wildcards is refused", "sites:\n  - id: 'clinic-a.>'", "sites[0].id"},
		{"a site id of 41 characters is refused", "sites:\n  - id: " + strings.Repeat("a", 41), "sites[0].id"},
		{"an empty site id is refused", "sites:\n  - openmrs_user: dormant", "sites[0].id"},
		{"a site listed twice is refused", "sites:\n  - id: clinic-a\n  - id: clinic-a", "listed twice"},
		{"a javascript: OpenMRS URL is refused", "sites:\n  - id: clinic-a\n    openmrs_url: 'javascript:alert(1)'", "openmrs_url"},
		{"an OpenMRS URL without a host is refused", "sites:\n  - id: clinic-a\n    openmrs_url: 'http:///openmrs'", "openmrs_url"},
		{"a shell command as a variable name is refused", "sites:\n  - id: clinic-a\n    ingest_token_env: '$(cat /etc/shadow)'", "ingest_token_env"},
		{"an admin address smuggling a header is refused", "sites:\n  - id: clinic-a\n    admin_emails: [\"it@clinic.org\\r\\nBcc: all@evil.example\"]", "admin_emails[0]"},
		{"an SMTP port beyond 65535 is refused", "sites:\n  - id: clinic-a\n    smtp: {host: mail, port: 70000, from: a@b.org}", "smtp.port"},
		{"an unknown SMTP TLS mode is refused", "sites:\n  - id: clinic-a\n    smtp: {host: mail, tls: maybe, from: a@b.org}", "smtp.tls"},
		{"an SMTP user without a password variable is refused", "sites:\n  - id: clinic-a\n    smtp: {host: mail, username: u, from: a@b.org}", "smtp"},
		{"an alias bomb is refused", laughs + "sites: *j", "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			start := time.Now()
			f, err := siteconfig.Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("accepted: %+v", f)
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
