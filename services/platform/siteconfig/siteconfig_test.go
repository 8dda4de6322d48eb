package siteconfig_test

import (
	"strings"
	"testing"

	"github.com/dormant-dev/dormant/services/platform/siteconfig"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"a complete site", `
sites:
  - id: clinic-a
    openmrs_url: https://emr.example.org/openmrs
    openmrs_user: dormant
    openmrs_password_env: CLINIC_A_PASSWORD
    ingest_token_env: CLINIC_A_TOKEN
    policy:
      enabled: true
`, ""},
		{"site id with capitals is refused", "sites: [{id: Clinic}]", `sites[0].id "Clinic"`},
		{"duplicate site ids are refused", "sites: [{id: a}, {id: a}]", "listed twice"},
		{"a misspelt key is refused, not ignored", "sites: [{id: a, openmrs_ur: x}]", "openmrs_ur"},
		{"a non-http OpenMRS URL is refused", "sites: [{id: a, openmrs_url: 'ftp://x'}]", "openmrs_url"},
		{"an env name with spaces is refused", "sites: [{id: a, ingest_token_env: 'MY TOKEN'}]", "ingest_token_env"},
		{"notifications configured", `
sites:
  - id: a
    admin_emails: [ops@example.org, "Ada <ada@example.org>"]
    admin_uuids: [1c3f]
    templates_dir: /etc/dormant/templates
    smtp: {host: smtp.example.org, port: 587, username: dormant, password_env: A_SMTP, from: dormant@example.org}
`, ""},
		{"a bad admin email is refused", "sites: [{id: a, admin_emails: [not-an-address]}]", "admin_emails[0]"},
		{"smtp without a host is refused", "sites: [{id: a, smtp: {from: d@example.org}}]", "smtp.host"},
		{"smtp with an unknown tls mode is refused", "sites: [{id: a, smtp: {host: h, from: d@example.org, tls: ssl}}]", "smtp.tls"},
		{"smtp username without a password is refused", "sites: [{id: a, smtp: {host: h, from: d@example.org, username: u}}]", "go together"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := siteconfig.Parse([]byte(tc.doc))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestSecretsComeFromTheEnvironment(t *testing.T) {
	f, err := siteconfig.Parse([]byte("sites: [{id: a, ingest_token_env: DORMANT_TEST_TOKEN_A}]"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := f.Site("a")
	t.Setenv("DORMANT_TEST_TOKEN_A", "")
	if _, err := s.IngestToken(); err == nil || !strings.Contains(err.Error(), "DORMANT_TEST_TOKEN_A") {
		t.Fatalf("empty token accepted or error does not name the variable: %v", err)
	}
	t.Setenv("DORMANT_TEST_TOKEN_A", "s3cret")
	if tok, err := s.IngestToken(); err != nil || tok != "s3cret" {
		t.Fatalf("IngestToken = %q, %v", tok, err)
	}
	if _, err := s.OpenMRSPassword(); err == nil {
		t.Fatal("a password with no variable named was accepted")
	}
}
