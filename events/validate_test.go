package events

import (
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestFullSamplesAreValid(t *testing.T) {
	samples := fullSamples()
	for _, typ := range Types() {
		d, ok := samples[typ]
		if !ok {
			t.Errorf("no sample for %s", typ)
			continue
		}
		if err := d.Validate(); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
}

// fieldsOf lists the Field of every FieldError in err.
func fieldsOf(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe.Field)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if u := errors.Unwrap(err); u != nil {
			walk(u)
		}
	}
	walk(err)
	return out
}

func TestValidationRules(t *testing.T) {
	long := strings.Repeat("x", 51)
	cases := []struct {
		rule      string
		typ       string
		mutate    func(Data)
		wantField string // "" means the data stays valid
	}{
		{"session event must be login or logout", TypeUserSession, func(d Data) { d.(*UserSession).Event = "signin" }, "event"},
		{"session status must be success or failure", TypeUserSession, func(d Data) { d.(*UserSession).Status = "FAIL" }, "status"},
		{"successful login requires user_uuid", TypeUserSession, func(d Data) { d.(*UserSession).UserUUID = "" }, "user_uuid"},
		{"failed login must not carry user_uuid", TypeUserSession, func(d Data) { d.(*UserSession).Status = StatusFailure }, "user_uuid"},
		{"failed login without user_uuid is valid", TypeUserSession, func(d Data) {
			s := d.(*UserSession)
			s.Status, s.UserUUID, s.SystemID = StatusFailure, "", ""
		}, ""},
		{"logout may omit user_uuid", TypeUserSession, func(d Data) {
			s := d.(*UserSession)
			s.Event, s.UserUUID = EventLogout, ""
		}, ""},
		{"user_uuid must be 8-4-4-4-12 hex", TypeUserSession, func(d Data) { d.(*UserSession).UserUUID = "0d7c1a436b0c4d1c9a3e2f1b6c7d8e9f" }, "user_uuid"},
		{"user_uuid rejects non-hex", TypeUserSession, func(d Data) { d.(*UserSession).UserUUID = "zd7c1a43-6b0c-4d1c-9a3e-2f1b6c7d8e9f" }, "user_uuid"},
		{"username is required", TypeUserSession, func(d Data) { d.(*UserSession).Username = "" }, "username"},
		{"username is at most 50 characters like users.username", TypeUserSession, func(d Data) { d.(*UserSession).Username = long }, "username"},
		{"username of 50 multi-byte characters fits", TypeUserSession, func(d Data) { d.(*UserSession).Username = strings.Repeat("é", 50) }, ""},
		{"username must be valid UTF-8", TypeUserSession, func(d Data) { d.(*UserSession).Username = "bad\xff" }, "username"},
		{"occurred_at is required", TypeUserSession, func(d Data) { d.(*UserSession).OccurredAt = time.Time{} }, "occurred_at"},
		{"method must be a known method", TypeUserSession, func(d Data) { d.(*UserSession).Method = "saml" }, "method"},
		{"location_uuid must be a UUID", TypeUserSession, func(d Data) { d.(*UserSession).LocationUUID = "1" }, "location_uuid"},
		{"client_ip must be an IP", TypeUserSession, func(d Data) { d.(*UserSession).ClientIP = "example.org" }, "client_ip"},
		{"client_ip may be IPv6", TypeUserSession, func(d Data) { d.(*UserSession).ClientIP = "::1" }, ""},

		{"previous_login_at may be null on the first login", TypeLastLoginRecorded, func(d Data) { d.(*LastLoginRecorded).PreviousLoginAt = nil }, ""},
		{"previous_login_at must not be after last_login_at", TypeLastLoginRecorded, func(d Data) {
			later := t0.Add(time.Hour)
			d.(*LastLoginRecorded).PreviousLoginAt = &later
		}, "previous_login_at"},
		{"last_login_at is required", TypeLastLoginRecorded, func(d Data) { d.(*LastLoginRecorded).LastLoginAt = time.Time{} }, "last_login_at"},

		{"roles must be non-empty names", TypeUserSynced, func(d Data) { d.(*UserSynced).Roles = []string{""} }, "roles[0]"},
		{"created_at is required", TypeUserSynced, func(d Data) { d.(*UserSynced).CreatedAt = time.Time{} }, "created_at"},
		{"retire_reason is bounded free text", TypeUserSynced, func(d Data) { d.(*UserSynced).RetireReason = strings.Repeat("r", MaxText+1) }, "retire_reason"},

		{"tick period must be ISO 8601", TypeClockTick, func(d Data) { d.(*ClockTick).Period = "1h" }, "period"},
		{"tick period must be positive", TypeClockTick, func(d Data) { d.(*ClockTick).Period = "PT0S" }, "period"},
		{"tick period may be in weeks", TypeClockTick, func(d Data) { d.(*ClockTick).Period = "P1W" }, ""},
		{"tick at is required", TypeClockTick, func(d Data) { d.(*ClockTick).At = time.Time{} }, "at"},

		{"warning leaves at least one day", TypeUserWarned, func(d Data) { d.(*UserWarned).DaysLeft = 0 }, "days_left"},
		{"warning of a never-seen user has null last_login_at", TypeUserWarned, func(d Data) { d.(*UserWarned).LastLoginAt = nil }, ""},
		{"warning names its rule", TypeUserWarned, func(d Data) { d.(*UserWarned).Rule = "" }, "rule"},

		{"deactivation carries a human reason", TypeDeactivationRequested, func(d Data) { d.(*DeactivationRequested).Reason = "" }, "reason"},
		{"deactivation carries a decision id", TypeDeactivationRequested, func(d Data) { d.(*DeactivationRequested).DecisionID = "" }, "decision_id"},

		{"held count is not negative", TypePolicyHeld, func(d Data) { d.(*PolicyHeld).Count = -1 }, "count"},
		{"held sample holds uuids", TypePolicyHeld, func(d Data) { d.(*PolicyHeld).Sample = []string{uuidA, "x"} }, "sample[1]"},

		{"deactivated needs retired_at", TypeUserDeactivated, func(d Data) { d.(*UserDeactivated).RetiredAt = time.Time{} }, "retired_at"},
		{"failure counts at least one attempt", TypeDeactivationFailed, func(d Data) { d.(*DeactivationFailed).Attempts = 0 }, "attempts"},
		{"reactivation says by whom", TypeUserReactivated, func(d Data) { d.(*UserReactivated).By = "" }, "by"},
		{"alert kind is a lower-case token", TypeSecurityAlert, func(d Data) { d.(*SecurityAlert).Kind = "Login Attempt" }, "kind"},
		{"alert may have no user", TypeSecurityAlert, func(d Data) { d.(*SecurityAlert).UserUUID = "" }, ""},

		{"failed login needs the username typed", TypeLoginFailed, func(d Data) { d.(*LoginFailed).Username = "" }, "username"},
		{"failed login may omit user_uuid", TypeLoginFailed, func(d Data) { d.(*LoginFailed).UserUUID = "" }, ""},
		{"failed login method must be known", TypeLoginFailed, func(d Data) { d.(*LoginFailed).Method = "" }, "method"},

		{"reactivation request needs requested_at", TypeReactivationRequested, func(d Data) { d.(*ReactivationRequested).RequestedAt = time.Time{} }, "requested_at"},
		{"reactivation note is bounded", TypeReactivationRequested, func(d Data) { d.(*ReactivationRequested).Note = strings.Repeat("n", MaxText+1) }, "note"},
		{"reactivation client_ip must be an IP", TypeReactivationRequested, func(d Data) { d.(*ReactivationRequested).ClientIP = "10.0.0" }, "client_ip"},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			d := fullSamples()[tc.typ]
			tc.mutate(d)
			err := d.Validate()
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error on %s, got none", tc.wantField)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("errors.As finds no *FieldError in %v", err)
			}
			fields := fieldsOf(err)
			for _, f := range fields {
				if f == tc.wantField {
					return
				}
			}
			t.Fatalf("want an error on %s, got fields %v (%v)", tc.wantField, fields, err)
		})
	}
}

func TestFieldErrorMessageNamesTheField(t *testing.T) {
	err := (&FieldError{Field: "user_uuid", Problem: "must be a UUID"}).Error()
	if err != "user_uuid: must be a UUID" {
		t.Fatalf("got %q", err)
	}
}

func TestValidateReportsEveryBrokenRule(t *testing.T) {
	err := (&UserSession{}).Validate()
	got := fieldsOf(err)
	want := []string{"event", "status", "username", "occurred_at", "method"}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("missing error on %s in %v", w, got)
		}
	}
}

func TestValidUUIDAgreesWithThePattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	cases := []string{"", "4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", "4F6A2B1C-9D8E-4F7A-8B6C-5D4E3F2A1B0C",
		"4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0", "4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0cc", "4f6a2b1c9d8e-4f7a-8b6c-5d4e3f2a1b0c-",
		"4f6a2b1g-9d8e-4f7a-8b6c-5d4e3f2a1b0c", "4f6a2b1c-9d8e-4f7a-8b6c_5d4e3f2a1b0c", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
		"4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0\u00e9"}
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "0123456789abcdefABCDEFg-"
	for i := 0; i < 20000; i++ {
		b := []byte("4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0c")
		b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		if ValidUUID(c) != pattern.MatchString(c) {
			t.Fatalf("ValidUUID(%q) = %v, the pattern says %v", c, ValidUUID(c), pattern.MatchString(c))
		}
	}
}

func TestValidSiteAgreesWithThePattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[a-z0-9-]{1,40}$`)
	cases := []string{"", "a", "clinic-a", "Clinic", "a_b", "a.b", strings.Repeat("a", 40), strings.Repeat("a", 41), "é", "-"}
	rng := rand.New(rand.NewPCG(5, 6))
	const alphabet = "az09-_A."
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.IntN(43))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		if ValidSite(c) != pattern.MatchString(c) {
			t.Fatalf("ValidSite(%q) = %v, the pattern says %v", c, ValidSite(c), pattern.MatchString(c))
		}
	}
}
