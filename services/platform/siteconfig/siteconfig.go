// Package siteconfig reads the YAML file that lists the OpenMRS sites dormant serves
// (DORMANT_CONFIG). Secrets never live in the file: it names the environment variables that
// hold them.
package siteconfig

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"regexp"

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
	// OpenMRS hook presents to login-ingest.
	IngestTokenEnv string `yaml:"ingest_token_env"`
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
	return errors.Join(errs...)
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

// IngestToken reads the site's ingest token from the environment.
func (s Site) IngestToken() (string, error) {
	return secret(s.ID, "ingest_token_env", s.IngestTokenEnv)
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
