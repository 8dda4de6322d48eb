// Package siteconfig reads the YAML file that lists the OpenMRS sites dormant serves
// (DORMANT_CONFIG). Secrets never live in the file: it names the environment variables that
// hold them.
package siteconfig

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is the whole configuration file.
type File struct {
	Sites []Site `yaml:"sites"`
}

// Site is one OpenMRS installation.
type Site struct {
	// ID is the site id used in subjects and events ([a-z0-9-]{1,40}).
	ID string `yaml:"id"`
	// OpenMRSURL is the base URL of the OpenMRS web application, e.g. https://emr.example.org/openmrs.
	OpenMRSURL string `yaml:"openmrs_url"`
	// OpenMRSUser is the OpenMRS account dormant acts as (needs Get Users, Edit Users, Get Global Properties).
	OpenMRSUser string `yaml:"openmrs_user"`
	// OpenMRSPasswordEnv names the environment variable that holds that account's password.
	OpenMRSPasswordEnv string `yaml:"openmrs_password_env"`
	// IngestTokenEnv names the environment variable holding the bearer token the site's
	// OpenMRS hook presents to login-ingest. It keeps working beside IngestTokens.
	IngestTokenEnv string `yaml:"ingest_token_env"`
	// IngestTokens are the site's accepted bearer tokens, each in a variable of its own:
	// listing the new token beside the old one while the hook changes over is how a token is
	// rotated without a window of refused requests (docs/operations.md).
	IngestTokens []IngestToken `yaml:"ingest_tokens"`
	// Policy holds the site's policy overrides; the policy service interprets it.
	Policy yaml.Node `yaml:"policy"`
	// AdminEmails receive the daily digest and held-batch notices.
	AdminEmails []string `yaml:"admin_emails"`
	// AdminUUIDs are the OpenMRS users shown on-screen alerts; empty: the users holding the
	// System Developer role.
	AdminUUIDs []string `yaml:"admin_uuids"`
	// TemplatesDir holds the site's own notification templates; a file there replaces the
	// embedded template of the same name.
	TemplatesDir string `yaml:"templates_dir"`
	// SMTP is the mail server notifications go through; nil sends no email for the site.
	SMTP *SMTP `yaml:"smtp"`
}

// IngestToken is one bearer token a site's hook may present.
type IngestToken struct {
	// Name says in logs and metrics which token a request used (never the token itself);
	// empty: Env.
	Name string `yaml:"name"`
	// Env names the environment variable that holds the token.
	Env string `yaml:"env"`
}

// SMTP is a site's outgoing mail server.
type SMTP struct {
	Host string `yaml:"host"`
	// Port defaults to 587 (submission with STARTTLS), 465 with tls: implicit.
	Port int `yaml:"port"`
	// Username and PasswordEnv authenticate (PLAIN or LOGIN, as the server offers); empty
	// Username sends without authentication.
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
	// From is the sender, e.g. "dormant <dormant@clinic.example.org>".
	From string `yaml:"from"`
	// TLS is starttls (default: STARTTLS required), implicit (TLS from the first byte), or
	// none (plain text, only for a relay on the same machine).
	TLS string `yaml:"tls"`
}

var siteID = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// MinIngestTokenLength is the shortest token ingest_tokens accepts: 16 random characters are
// beyond guessing through the intake (`openssl rand -hex 32` gives 64).
const MinIngestTokenLength = 16

// Load reads and validates the file at path. Unknown keys are errors: a misspelt key would
// otherwise silently leave a default in force.
func Load(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read site configuration: %w", err)
	}
	f, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("site configuration %s: %w", path, err)
	}
	return f, nil
}

// Parse decodes and validates a configuration document.
func Parse(raw []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Validate reports every problem at once, each naming the key.
func (f *File) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, s := range f.Sites {
		at := fmt.Sprintf("sites[%d]", i)
		if !siteID.MatchString(s.ID) {
			errs = append(errs, fmt.Errorf("%s.id %q: must match [a-z0-9-]{1,40}", at, s.ID))
		} else if seen[s.ID] {
			errs = append(errs, fmt.Errorf("%s.id %q: listed twice", at, s.ID))
		}
		seen[s.ID] = true
		if s.OpenMRSURL != "" {
			u, err := url.Parse(s.OpenMRSURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("%s.openmrs_url %q: must be an http or https URL", at, s.OpenMRSURL))
			}
		}
		for key, v := range map[string]string{"openmrs_password_env": s.OpenMRSPasswordEnv, "ingest_token_env": s.IngestTokenEnv} {
			if v != "" && !envName.MatchString(v) {
				errs = append(errs, fmt.Errorf("%s.%s %q: must be an environment variable name", at, key, v))
			}
		}
		errs = append(errs, s.validateNotify(at)...)
	}
	errs = append(errs, f.validateTokens()...)
	return errors.Join(errs...)
}

// tokenRef is one accepted ingest token as the file names it.
type tokenRef struct {
	site, name, env string
	// key is where the file names the variable, e.g. sites[0].ingest_tokens[1].env.
	key string
	// legacy: the single ingest_token_env, which predates the length rule.
	legacy bool
}

// tokenRefs lists the site's accepted tokens: ingest_token_env first, then ingest_tokens.
func (s Site) tokenRefs(at string) []tokenRef {
	var refs []tokenRef
	if s.IngestTokenEnv != "" {
		refs = append(refs, tokenRef{site: s.ID, name: s.IngestTokenEnv, env: s.IngestTokenEnv, key: at + ".ingest_token_env", legacy: true})
	}
	for i, t := range s.IngestTokens {
		name := t.Name
		if name == "" {
			name = t.Env
		}
		refs = append(refs, tokenRef{site: s.ID, name: name, env: t.Env, key: fmt.Sprintf("%s.ingest_tokens[%d].env", at, i)})
	}
	return refs
}

// validateTokens checks the token entries of every site: names unique within a site (they
// are what logs and metrics show), and no variable behind two entries, since a token shared
// by two sites would let one site's hook post as the other.
func (f *File) validateTokens() []error {
	var errs []error
	owner := map[string]string{} // variable -> key that named it first
	for i, s := range f.Sites {
		at := fmt.Sprintf("sites[%d]", i)
		names := map[string]string{}
		for j, t := range s.IngestTokens {
			tk := fmt.Sprintf("%s.ingest_tokens[%d]", at, j)
			if t.Env == "" {
				errs = append(errs, fmt.Errorf("%s.env: required (the variable that holds the token)", tk))
			} else if !envName.MatchString(t.Env) {
				errs = append(errs, fmt.Errorf("%s.env %q: must be an environment variable name", tk, t.Env))
			}
			if t.Name != "" && !tokenName.MatchString(t.Name) {
				errs = append(errs, fmt.Errorf("%s.name %q: must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}", tk, t.Name))
			}
		}
		for _, r := range s.tokenRefs(at) {
			if r.env == "" {
				continue
			}
			if first, ok := names[r.name]; ok {
				errs = append(errs, fmt.Errorf("%s: token name %q is already used by %s; give each token of a site its own name", r.key, r.name, first))
			} else {
				names[r.name] = r.key
			}
			if first, ok := owner[r.env]; ok {
				errs = append(errs, fmt.Errorf("%s %q: variable already named by %s; each token must be its own", r.key, r.env, first))
			} else {
				owner[r.env] = r.key
			}
		}
	}
	return errs
}

func (s Site) validateNotify(at string) []error {
	var errs []error
	for i, a := range s.AdminEmails {
		if _, err := mail.ParseAddress(a); err != nil {
			errs = append(errs, fmt.Errorf("%s.admin_emails[%d] %q: %v", at, i, a, err))
		}
	}
	if m := s.SMTP; m != nil {
		if m.Host == "" {
			errs = append(errs, fmt.Errorf("%s.smtp.host: required", at))
		}
		if m.Port < 0 || m.Port > 65535 {
			errs = append(errs, fmt.Errorf("%s.smtp.port %d: must be 1 to 65535", at, m.Port))
		}
		if _, err := mail.ParseAddress(m.From); err != nil {
			errs = append(errs, fmt.Errorf("%s.smtp.from %q: %v", at, m.From, err))
		}
		if m.TLS != "" && m.TLS != "starttls" && m.TLS != "implicit" && m.TLS != "none" {
			errs = append(errs, fmt.Errorf("%s.smtp.tls %q: must be starttls, implicit or none", at, m.TLS))
		}
		if m.PasswordEnv != "" && !envName.MatchString(m.PasswordEnv) {
			errs = append(errs, fmt.Errorf("%s.smtp.password_env %q: must be an environment variable name", at, m.PasswordEnv))
		}
		if (m.Username == "") != (m.PasswordEnv == "") {
			errs = append(errs, fmt.Errorf("%s.smtp: username and password_env go together", at))
		}
	}
	return errs
}

// SMTPPassword reads the SMTP password from the environment.
func (s Site) SMTPPassword() (string, error) {
	if s.SMTP == nil {
		return "", fmt.Errorf("site %s: no smtp block", s.ID)
	}
	return secret(s.ID, "smtp.password_env", s.SMTP.PasswordEnv)
}

// Site returns the site with id.
func (f *File) Site(id string) (Site, bool) {
	for _, s := range f.Sites {
		if s.ID == id {
			return s, true
		}
	}
	return Site{}, false
}

// IngestTokenEnvs names the variables holding the site's accepted ingest tokens.
func (s Site) IngestTokenEnvs() []string {
	var out []string
	for _, r := range s.tokenRefs("") {
		if r.env != "" {
			out = append(out, r.env)
		}
	}
	return out
}

// IngestCredential is one accepted ingest token, read from the environment.
type IngestCredential struct {
	Site string
	// Name identifies the token in logs and metrics.
	Name string
	// Key is where the sites file names the variable, Env the variable.
	Key, Env string
	Token    string
	// Legacy marks the token of ingest_token_env, which the length rule does not bind, so
	// that configurations from before it keep starting.
	Legacy bool
}

// IngestCredentials reads every site's accepted ingest tokens from the environment and checks
// them: each set, those of ingest_tokens at least MinIngestTokenLength long, and no token
// accepted twice (within a site it is a rotation that forgot to change the value; across
// sites, a token that would admit one site's events as another's). Errors name the key and
// the variable, never the token.
func (f *File) IngestCredentials() ([]IngestCredential, error) {
	var (
		out  []IngestCredential
		errs []error
	)
	seen := map[[sha256.Size]byte]IngestCredential{}
	for i, s := range f.Sites {
		for _, r := range s.tokenRefs(fmt.Sprintf("sites[%d]", i)) {
			if r.env == "" {
				continue
			}
			tok := os.Getenv(r.env)
			switch {
			case tok == "":
				errs = append(errs, fmt.Errorf("%s: environment variable %s is empty or unset (site %s)", r.key, r.env, s.ID))
				continue
			case strings.TrimSpace(tok) != tok:
				errs = append(errs, fmt.Errorf("%s: the token in %s starts or ends with white space (site %s); a hook would not send it", r.key, r.env, s.ID))
				continue
			case !r.legacy && len(tok) < MinIngestTokenLength:
				errs = append(errs, fmt.Errorf("%s: the token in %s is shorter than %d characters (site %s); make one with: openssl rand -hex 32", r.key, r.env, MinIngestTokenLength, s.ID))
				continue
			}
			c := IngestCredential{Site: s.ID, Name: r.name, Key: r.key, Env: r.env, Token: tok, Legacy: r.legacy}
			h := sha256.Sum256([]byte(tok))
			if first, ok := seen[h]; ok {
				if first.Site == c.Site {
					errs = append(errs, fmt.Errorf("%s: %s holds the same token as %s (%s) of the same site; a rotation needs a new value", r.key, r.env, first.Key, first.Env))
				} else {
					errs = append(errs, fmt.Errorf("%s: %s holds the same token as %s (%s) of site %s; a token must belong to one site", r.key, r.env, first.Key, first.Env, first.Site))
				}
				continue
			}
			seen[h] = c
			out = append(out, c)
		}
	}
	return out, errors.Join(errs...)
}

// OpenMRSPassword reads the acting user's password from the environment.
func (s Site) OpenMRSPassword() (string, error) {
	return secret(s.ID, "openmrs_password_env", s.OpenMRSPasswordEnv)
}

func secret(site, key, env string) (string, error) {
	if env == "" {
		return "", fmt.Errorf("site %s: %s is not set", site, key)
	}
	v, ok := os.LookupEnv(env)
	if !ok || v == "" {
		return "", fmt.Errorf("site %s: environment variable %s (from %s) is empty", site, env, key)
	}
	return v, nil
}
