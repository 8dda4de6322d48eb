package events

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds on strings. Usernames and names follow OpenMRS's column sizes, so anything longer
// cannot have come from OpenMRS; free text is bounded so one event cannot bloat a stream.
const (
	MaxUsername = 50  // users.username, users.system_id
	MaxName     = 50  // person_name.given_name / family_name, role.role
	MaxEmail    = 255 // users.email
	MaxToken    = 128 // rule names, ids, policy versions, kinds
	MaxText     = 1024
	MaxItems    = 1000 // roles, properties, samples
)

// FieldError names the data field that breaks a rule, by its JSON name.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// checker collects FieldErrors so Validate reports every broken rule at once.
type checker struct{ errs []error }

func (c *checker) fail(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (c *checker) err() error { return errors.Join(c.errs...) }

// ValidUUID reports whether s has the 36-character 8-4-4-4-12 hex form OpenMRS uses.
//
// It is hand-written rather than uuidPattern.MatchString because it runs for every event on
// the ingest hot path; TestValidUUIDAgreesWithThePattern keeps it equal to the pattern
// ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$.
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// text checks that s is valid UTF-8 of at most max runes; required rejects "".
func (c *checker) text(field, s string, max int, required bool) {
	switch {
	case s == "":
		if required {
			c.fail(field, "is required")
		}
	case !utf8.ValidString(s):
		c.fail(field, "must be valid UTF-8")
	case strings.ContainsRune(s, 0):
		// PostgreSQL text cannot hold NUL: such a value would fail its transaction on every
		// redelivery and stall the consumer behind it.
		c.fail(field, "must not contain NUL characters")
	case utf8.RuneCountInString(s) > max:
		c.fail(field, "must be at most %d characters", max)
	}
}

func (c *checker) uuid(field, s string, required bool) {
	switch {
	case s == "":
		if required {
			c.fail(field, "is required")
		}
	case !ValidUUID(s):
		c.fail(field, "must be a UUID")
	}
}

func (c *checker) absent(field, s, why string) {
	if s != "" {
		c.fail(field, "must be absent %s", why)
	}
}

func (c *checker) oneOf(field, s string, allowed ...string) {
	if s == "" {
		c.fail(field, "is required")
		return
	}
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	c.fail(field, "must be one of %v", allowed)
}

func (c *checker) time(field string, t time.Time) {
	if t.IsZero() {
		c.fail(field, "is required")
	}
}

func (c *checker) optionalTime(field string, t *time.Time) {
	if t != nil && t.IsZero() {
		c.fail(field, "must be null or a time")
	}
}

func (c *checker) ip(field, s string) {
	if s == "" {
		return
	}
	if _, err := netip.ParseAddr(s); err != nil {
		c.fail(field, "must be an IP address")
	}
}

func (c *checker) min(field string, v, min int) {
	if v < min {
		c.fail(field, "must be at least %d", min)
	}
}

var methods = []string{MethodForm, MethodBasic, MethodOAuth2, MethodAPI, MethodOther}

// Validate enforces the hook's contract. A failure must carry no user_uuid: OpenMRS passes
// an unsaved User with a random uuid, and a successful login must carry one, or the last
// login could not be attached to anybody.
func (d *UserSession) Validate() error {
	var c checker
	c.oneOf("event", d.Event, EventLogin, EventLogout)
	c.oneOf("status", d.Status, StatusSuccess, StatusFailure)
	switch {
	case d.Status == StatusFailure:
		c.absent("user_uuid", d.UserUUID, "on failures (OpenMRS gives an unsaved user a random uuid)")
	case d.Event == EventLogin && d.Status == StatusSuccess:
		c.uuid("user_uuid", d.UserUUID, true)
	default:
		c.uuid("user_uuid", d.UserUUID, false)
	}
	c.text("username", d.Username, MaxUsername, true)
	c.text("system_id", d.SystemID, MaxUsername, false)
	c.time("occurred_at", d.OccurredAt)
	c.oneOf("method", d.Method, methods...)
	c.uuid("location_uuid", d.LocationUUID, false)
	c.ip("client_ip", d.ClientIP)
	return c.err()
}

func (d *LastLoginRecorded) Validate() error {
	var c checker
	c.uuid("user_uuid", d.UserUUID, true)
	c.text("username", d.Username, MaxUsername, false)
	c.time("last_login_at", d.LastLoginAt)
	c.optionalTime("previous_login_at", d.PreviousLoginAt)
	if d.PreviousLoginAt != nil && d.PreviousLoginAt.After(d.LastLoginAt) {
		c.fail("previous_login_at", "must not be after last_login_at")
	}
	c.uuid("location_uuid", d.LocationUUID, false)
	return c.err()
}

func (d *UserSynced) Validate() error {
	var c checker
	c.uuid("user_uuid", d.UserUUID, true)
	c.text("username", d.Username, MaxUsername, false)
	c.text("system_id", d.SystemID, MaxUsername, false)
	c.text("given_name", d.GivenName, MaxName, false)
	c.text("family_name", d.FamilyName, MaxName, false)
	c.text("email", d.Email, MaxEmail, false)
	if len(d.Roles) > MaxItems {
		c.fail("roles", "must have at most %d items", MaxItems)
	}
	for i, r := range d.Roles {
		c.text(fmt.Sprintf("roles[%d]", i), r, MaxName, true)
	}
	c.time("created_at", d.CreatedAt)
	c.text("retire_reason", d.RetireReason, MaxText, false)
	if len(d.Properties) > MaxItems {
		c.fail("properties", "must have at most %d entries", MaxItems)
	}
	for k, v := range d.Properties {
		c.text("properties", k, MaxEmail, true)
		c.text("properties."+k, v, MaxText, false)
	}
	return c.err()
}

func (d *ClockTick) Validate() error {
	var c checker
	c.time("at", d.At)
	if d.Period == "" {
		c.fail("period", "is required")
	} else if p, err := ParseISODuration(d.Period); err != nil {
		c.fail("period", "must be an ISO 8601 duration: %v", err)
	} else if p <= 0 {
		c.fail("period", "must be positive")
	}
	return c.err()
}

func (d *UserWarned) Validate() error {
	var c checker
	c.uuid("user_uuid", d.UserUUID, true)
	c.text("username", d.Username, MaxUsername, false)
	c.text("rule", d.Rule, MaxToken, true)
	c.optionalTime("last_login_at", d.LastLoginAt)
	c.time("deactivate_on", d.DeactivateOn)
	// Steps are whole days before the deactivation day, and a user found late gets the
	// day pushed out, so a warning always leaves at least one day.
	c.min("days_left", d.DaysLeft, 1)
	c.text("policy_version", d.PolicyVersion, MaxToken, true)
	return c.err()
}

func (d *DeactivationRequested) Validate() error {
	var c checker
	c.text("decision_id", d.DecisionID, MaxToken, true)
	c.uuid("user_uuid", d.UserUUID, true)
	c.text("username", d.Username, MaxUsername, false)
	c.text("rule", d.Rule, MaxToken, true)
	c.text("reason", d.Reason, MaxText, true)
	c.optionalTime("last_login_at", d.LastLoginAt)
	c.time("decided_at", d.DecidedAt)
	c.text("policy_version", d.PolicyVersion, MaxToken, true)
	return c.err()
}

func (d *PolicyHeld) Validate() error {
	var c checker
	c.text("batch_id", d.BatchID, MaxToken, true)
	c.min("count", d.Count, 0)
	c.min("limit", d.Limit, 0)
	c.text("reason", d.Reason, MaxText, true)
	if len(d.Sample) > MaxItems {
		c.fail("sample", "must have at most %d items", MaxItems)
	}
	for i, u := range d.Sample {
		c.uuid(fmt.Sprintf("sample[%d]", i), u, true)
	}
	return c.err()
}

func (d *UserDeactivated) Validate() error {
	var c checker
	c.text("decision_id", d.DecisionID, MaxToken, true)
	c.uuid("user_uuid", d.UserUUID, true)
	c.text("username", d.Username, MaxUsername, false)
	c.text("reason", d.Reason, MaxText, true)
	c.time("retired_at", d.RetiredAt)
	return c.err()
}

func (d *DeactivationFailed) Validate() error {
	var c checker
	c.text("decision_id", d.DecisionID, MaxToken, true)
	c.uuid("user_uuid", d.UserUUID, true)
	c.text("error", d.Error, MaxText, true)
	c.min("attempts", d.Attempts, 1)
	return c.err()
}

func (d *UserReactivated) Validate() error {
	var c checker
	c.uuid("user_uuid", d.UserUUID, true)
	c.text("username", d.Username, MaxUsername, false)
	c.text("by", d.By, MaxToken, true)
	c.text("reason", d.Reason, MaxText, true)
	c.text("request_id", d.RequestID, MaxToken, false)
	return c.err()
}

var kindPattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

func (d *SecurityAlert) Validate() error {
	var c checker
	if d.Kind == "" {
		c.fail("kind", "is required")
	} else if !kindPattern.MatchString(d.Kind) {
		c.fail("kind", "must match %s", kindPattern)
	}
	c.uuid("user_uuid", d.UserUUID, false)
	c.text("username", d.Username, MaxUsername, false)
	c.time("occurred_at", d.OccurredAt)
	c.text("detail", d.Detail, MaxText, false)
	return c.err()
}

func (d *LoginFailed) Validate() error {
	var c checker
	c.text("username", d.Username, MaxUsername, true)
	c.uuid("user_uuid", d.UserUUID, false)
	c.time("occurred_at", d.OccurredAt)
	c.oneOf("method", d.Method, methods...)
	c.ip("client_ip", d.ClientIP)
	return c.err()
}

func (d *ReactivationRequested) Validate() error {
	var c checker
	c.text("request_id", d.RequestID, MaxToken, true)
	c.text("username", d.Username, MaxUsername, true)
	c.text("note", d.Note, MaxText, false)
	c.time("requested_at", d.RequestedAt)
	c.ip("client_ip", d.ClientIP)
	return c.err()
}
