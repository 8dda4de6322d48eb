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
	if _, err := f.IngestCredentials(); err == nil || !strings.Contains(err.Error(), "DORMANT_TEST_TOKEN_A") {
		t.Fatalf("empty token accepted or error does not name the variable: %v", err)
	}
	t.Setenv("DORMANT_TEST_TOKEN_A", "s3cret")
	if cs, err := f.IngestCredentials(); err != nil || len(cs) != 1 || cs[0].Token != "s3cret" || cs[0].Site != "a" {
		t.Fatalf("IngestCredentials = %+v, %v", cs, err)
	}
	if _, err := s.OpenMRSPassword(); err == nil {
		t.Fatal("a password with no variable named was accepted")
	}
}

func TestIngestTokenEntries(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"old and new token during a rotation", `
sites:
  - id: a
    ingest_token_env: A_TOKEN
    ingest_tokens:
      - {name: 2026-11, env: A_TOKEN_2026_11}
      - {env: A_TOKEN_SPARE}
`, ""},
		{"a token without its variable is refused", "sites: [{id: a, ingest_tokens: [{name: new}]}]", "sites[0].ingest_tokens[0].env: required"},
		{"a variable name with a shell expansion is refused", "sites: [{id: a, ingest_tokens: [{env: '$(id)'}]}]", "sites[0].ingest_tokens[0].env"},
		{"a token name with spaces is refused", "sites: [{id: a, ingest_tokens: [{name: 'new token', env: X}]}]", "sites[0].ingest_tokens[0].name"},
		{"a token name too long for a label is refused", "sites: [{id: a, ingest_tokens: [{name: " + strings.Repeat("n", 65) + ", env: X}]}]", "sites[0].ingest_tokens[0].name"},
		{"a misspelt token key is refused", "sites: [{id: a, ingest_tokens: [{env: X, token: s3cret}]}]", "token"},
		{"two tokens of a site with one name are refused", "sites: [{id: a, ingest_tokens: [{name: t, env: X}, {name: t, env: Y}]}]",
			`sites[0].ingest_tokens[1].env: token name "t" is already used by sites[0].ingest_tokens[0].env`},
		{"a listed token named like the old one's variable is refused", "sites: [{id: a, ingest_token_env: X, ingest_tokens: [{name: X, env: Y}]}]",
			`token name "X" is already used by sites[0].ingest_token_env`},
		{"one variable listed twice in a site is refused", "sites: [{id: a, ingest_token_env: X, ingest_tokens: [{name: new, env: X}]}]",
			`sites[0].ingest_tokens[0].env "X": variable already named by sites[0].ingest_token_env`},
		{"one variable for two sites is refused", "sites: [{id: a, ingest_tokens: [{env: X}]}, {id: b, ingest_token_env: X}]",
			`sites[1].ingest_token_env "X": variable already named by sites[0].ingest_tokens[0].env`},
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

func TestIngestCredentials(t *testing.T) {
	const (
		oldA = "old-token-of-site-a-3c1f"
		newA = "new-token-of-site-a-9b7e"
		tokB = "token-of-site-b-55d2a0e1"
	)
	rotation := `
sites:
  - id: a
    ingest_token_env: T_OLD_A
    ingest_tokens: [{name: new, env: T_NEW_A}]
  - id: b
    ingest_tokens: [{env: T_B}]
`
	tests := []struct {
		name    string
		doc     string
		env     map[string]string
		want    []siteconfig.IngestCredential
		wantErr []string
	}{
		{"old and new token of a site are both read during a rotation", rotation,
			map[string]string{"T_OLD_A": oldA, "T_NEW_A": newA, "T_B": tokB},
			[]siteconfig.IngestCredential{
				{Site: "a", Name: "T_OLD_A", Key: "sites[0].ingest_token_env", Env: "T_OLD_A", Token: oldA, Legacy: true},
				{Site: "a", Name: "new", Key: "sites[0].ingest_tokens[0].env", Env: "T_NEW_A", Token: newA},
				{Site: "b", Name: "T_B", Key: "sites[1].ingest_tokens[0].env", Env: "T_B", Token: tokB},
			}, nil},
		{"a short old token keeps working", "sites: [{id: a, ingest_token_env: T_OLD_A}]",
			map[string]string{"T_OLD_A": "demo-token"},
			[]siteconfig.IngestCredential{{Site: "a", Name: "T_OLD_A", Key: "sites[0].ingest_token_env", Env: "T_OLD_A", Token: "demo-token", Legacy: true}}, nil},
		{"an empty token is refused", rotation,
			map[string]string{"T_OLD_A": oldA, "T_NEW_A": "", "T_B": tokB}, nil,
			[]string{"sites[0].ingest_tokens[0].env: environment variable T_NEW_A is empty or unset (site a)"}},
		{"an unset old token is refused", rotation,
			map[string]string{"T_NEW_A": newA, "T_B": tokB}, nil,
			[]string{"sites[0].ingest_token_env: environment variable T_OLD_A is empty or unset"}},
		{"a short new token is refused", rotation,
			map[string]string{"T_OLD_A": oldA, "T_NEW_A": "short-but-15chr", "T_B": tokB}, nil,
			[]string{"sites[0].ingest_tokens[0].env: the token in T_NEW_A is shorter than 16 characters"}},
		{"a token with a trailing newline is refused", rotation,
			map[string]string{"T_OLD_A": oldA, "T_NEW_A": newA + "\n", "T_B": tokB}, nil,
			[]string{"sites[0].ingest_tokens[0].env: the token in T_NEW_A starts or ends with white space"}},
		{"one token for two sites is refused", rotation,
			map[string]string{"T_OLD_A": oldA, "T_NEW_A": newA, "T_B": newA}, nil,
			[]string{"sites[1].ingest_tokens[0].env: T_B holds the same token as sites[0].ingest_tokens[0].env (T_NEW_A) of site a"}},
		{"a rotation that kept the old value is refused", rotation,
			map[string]string{"T_OLD_A": oldA, "T_NEW_A": oldA, "T_B": tokB}, nil,
			[]string{"sites[0].ingest_tokens[0].env: T_NEW_A holds the same token as sites[0].ingest_token_env (T_OLD_A) of the same site"}},
		{"every bad token is reported at once", rotation,
			map[string]string{"T_OLD_A": "", "T_NEW_A": "tiny-tok", "T_B": ""}, nil,
			[]string{"T_OLD_A is empty", "T_NEW_A is shorter", "T_B is empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := siteconfig.Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"T_OLD_A", "T_NEW_A", "T_B"} {
				t.Setenv(k, tc.env[k])
			}
			got, err := f.IngestCredentials()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("got %d credentials, want %d: %+v", len(got), len(tc.want), got)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("credential %d = %+v, want %+v", i, got[i], tc.want[i])
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, v := range tc.env {
				if len(v) > 3 && strings.Contains(err.Error(), strings.TrimSpace(v)) {
					t.Errorf("error %q contains a token", err)
				}
			}
		})
	}
}

func TestIngestTokenEnvs(t *testing.T) {
	f, err := siteconfig.Parse([]byte("sites: [{id: a, ingest_token_env: OLD, ingest_tokens: [{name: n, env: NEW}]}, {id: b}]"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Sites[0].IngestTokenEnvs(), ","); got != "OLD,NEW" {
		t.Errorf("site a reads %q, want OLD,NEW", got)
	}
	if got := f.Sites[1].IngestTokenEnvs(); len(got) != 0 {
		t.Errorf("site b reads %q, want none", got)
	}
}
