package events

import (
	"slices"
	"time"
)

// Event types, the CloudEvents "type" attribute. The hook's type lives in the OpenMRS
// namespace because the hook is the producer; everything dormant derives is "dormant.*".
const (
	TypeUserSession           = "org.openmrs.user.session"
	TypeLastLoginRecorded     = "dormant.lastlogin.recorded"
	TypeUserSynced            = "dormant.user.synced"
	TypeClockTick             = "dormant.clock.tick"
	TypeUserWarned            = "dormant.user.warned"
	TypeDeactivationRequested = "dormant.user.deactivation.requested"
	TypePolicyHeld            = "dormant.policy.held"
	TypeUserDeactivated       = "dormant.user.deactivated"
	TypeDeactivationFailed    = "dormant.user.deactivation.failed"
	TypeUserReactivated       = "dormant.user.reactivated"
	TypeSecurityAlert         = "dormant.security.alert"
	TypeLoginFailed           = "dormant.login.failed"
	TypeReactivationRequested = "dormant.user.reactivation.requested"
)

// Values of UserSession.Event.
const (
	EventLogin  = "login"
	EventLogout = "logout"
)

// Values of UserSession.Status.
const (
	StatusSuccess = "success"
	StatusFailure = "failure"
)

// Authentication methods, as the hook classifies the scheme that authenticated the user.
const (
	MethodForm   = "form"
	MethodBasic  = "basic"
	MethodOAuth2 = "oauth2"
	MethodAPI    = "api"
	MethodOther  = "other"
)

// Data is the payload of one event type. Every data struct in this package implements it.
type Data interface {
	// EventType is the CloudEvents type this data travels under.
	EventType() string
	// Validate reports every broken rule as a *FieldError, joined with errors.Join.
	Validate() error
}

// UserSession is what the OpenMRS hook reports from UserSessionListener.loggedInOrOut.
type UserSession struct {
	Event  string `json:"event"`
	Status string `json:"status"`
	// UserUUID is absent on failures: OpenMRS hands the listener an unsaved User whose uuid
	// is random, and recording it would attach the attempt to nobody (or worse, somebody).
	UserUUID     string    `json:"user_uuid,omitempty"`
	Username     string    `json:"username"`
	SystemID     string    `json:"system_id,omitempty"`
	OccurredAt   time.Time `json:"occurred_at"`
	Method       string    `json:"method"`
	LocationUUID string    `json:"location_uuid,omitempty"`
	ClientIP     string    `json:"client_ip,omitempty"`
}

// LastLoginRecorded is published by login-ingest after a last login moved forward.
type LastLoginRecorded struct {
	UserUUID    string    `json:"user_uuid"`
	Username    string    `json:"username,omitempty"`
	LastLoginAt time.Time `json:"last_login_at"`
	// PreviousLoginAt is null on the user's first recorded login.
	PreviousLoginAt *time.Time `json:"previous_login_at"`
	LocationUUID    string     `json:"location_uuid,omitempty"`
}

// UserSynced is one user of the OpenMRS roster as the sync read it.
type UserSynced struct {
	UserUUID     string            `json:"user_uuid"`
	Username     string            `json:"username,omitempty"`
	SystemID     string            `json:"system_id,omitempty"`
	GivenName    string            `json:"given_name,omitempty"`
	FamilyName   string            `json:"family_name,omitempty"`
	Email        string            `json:"email,omitempty"`
	Roles        []string          `json:"roles"`
	CreatedAt    time.Time         `json:"created_at"`
	Retired      bool              `json:"retired"`
	RetireReason string            `json:"retire_reason,omitempty"`
	Properties   map[string]string `json:"properties,omitempty"`
}

// ClockTick is the policy's notion of "now": decisions use At, never the wall clock.
type ClockTick struct {
	At time.Time `json:"at"`
	// Period is an ISO 8601 duration (PT1H, P1D, P1W); see ParseISODuration.
	Period string `json:"period"`
}

// UserWarned records one warning step sent to a user.
type UserWarned struct {
	UserUUID string `json:"user_uuid"`
	Username string `json:"username,omitempty"`
	Rule     string `json:"rule"`
	// LastLoginAt is null for a user never seen logging in (measured from creation or baseline).
	LastLoginAt   *time.Time `json:"last_login_at"`
	DeactivateOn  time.Time  `json:"deactivate_on"`
	DaysLeft      int        `json:"days_left"`
	PolicyVersion string     `json:"policy_version"`
	// DryRun marks a would-be warning of a site in dry run: emitted so admins and other
	// systems see what the policy would do, never mailed to the user.
	DryRun bool `json:"dry_run,omitempty"`
}

// DeactivationRequested is the policy's decision to retire a user; the actuator acts on it.
type DeactivationRequested struct {
	DecisionID string `json:"decision_id"`
	UserUUID   string `json:"user_uuid"`
	Username   string `json:"username,omitempty"`
	Rule       string `json:"rule"`
	// Reason is the human text the actuator passes to OpenMRS as the retire reason.
	Reason string `json:"reason"`
	// LastLoginAt is null for a user never seen logging in.
	LastLoginAt   *time.Time `json:"last_login_at"`
	DecidedAt     time.Time  `json:"decided_at"`
	PolicyVersion string     `json:"policy_version"`
	// DryRun marks a would-be decision: shown and recorded, never acted on.
	DryRun bool `json:"dry_run,omitempty"`
}

// PolicyHeld says a batch of deactivations waits for an admin's approval.
type PolicyHeld struct {
	BatchID string `json:"batch_id"`
	Count   int    `json:"count"`
	Limit   int    `json:"limit"`
	Reason  string `json:"reason"`
	// Sample holds some of the affected user uuids, enough for an admin to recognise the batch.
	Sample []string `json:"sample,omitempty"`
}

// UserDeactivated is the actuator's record that OpenMRS retired the user.
type UserDeactivated struct {
	DecisionID string    `json:"decision_id"`
	UserUUID   string    `json:"user_uuid"`
	Username   string    `json:"username,omitempty"`
	Reason     string    `json:"reason"`
	RetiredAt  time.Time `json:"retired_at"`
}

// DeactivationFailed is the actuator giving up on a decision after its last attempt.
type DeactivationFailed struct {
	DecisionID string `json:"decision_id"`
	UserUUID   string `json:"user_uuid"`
	Error      string `json:"error"`
	Attempts   int    `json:"attempts"`
	Retryable  bool   `json:"retryable"`
}

// UserReactivated records that a retired user was unretired.
type UserReactivated struct {
	UserUUID string `json:"user_uuid"`
	Username string `json:"username,omitempty"`
	// By is who reactivated: an admin's username or the component that did it.
	By     string `json:"by"`
	Reason string `json:"reason"`
	// RequestID links to the ReactivationRequested that led here, if any.
	RequestID string `json:"request_id,omitempty"`
}

// SecurityAlert reports something an admin should look at, such as a login attempt on a
// deactivated account.
type SecurityAlert struct {
	Kind       string    `json:"kind"`
	UserUUID   string    `json:"user_uuid,omitempty"`
	Username   string    `json:"username,omitempty"`
	OccurredAt time.Time `json:"occurred_at"`
	Detail     string    `json:"detail,omitempty"`
}

// LoginFailed is published by login-ingest for each failed login, so the policy can spot
// attempts on retired accounts without reading the auth stream itself.
type LoginFailed struct {
	Username   string    `json:"username"`
	UserUUID   string    `json:"user_uuid,omitempty"`
	OccurredAt time.Time `json:"occurred_at"`
	Method     string    `json:"method"`
	ClientIP   string    `json:"client_ip,omitempty"`
}

// ReactivationRequested is a retired user's (or an admin's) request to unretire an account.
type ReactivationRequested struct {
	RequestID   string    `json:"request_id"`
	Username    string    `json:"username"`
	Note        string    `json:"note,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	ClientIP    string    `json:"client_ip,omitempty"`
}

func (*UserSession) EventType() string           { return TypeUserSession }
func (*LastLoginRecorded) EventType() string     { return TypeLastLoginRecorded }
func (*UserSynced) EventType() string            { return TypeUserSynced }
func (*ClockTick) EventType() string             { return TypeClockTick }
func (*UserWarned) EventType() string            { return TypeUserWarned }
func (*DeactivationRequested) EventType() string { return TypeDeactivationRequested }
func (*PolicyHeld) EventType() string            { return TypePolicyHeld }
func (*UserDeactivated) EventType() string       { return TypeUserDeactivated }
func (*DeactivationFailed) EventType() string    { return TypeDeactivationFailed }
func (*UserReactivated) EventType() string       { return TypeUserReactivated }
func (*SecurityAlert) EventType() string         { return TypeSecurityAlert }
func (*LoginFailed) EventType() string           { return TypeLoginFailed }
func (*ReactivationRequested) EventType() string { return TypeReactivationRequested }

// SubjectUUID is the CloudEvents subject: the user the event is about, empty when unknown.
func (d *UserSession) SubjectUUID() string           { return d.UserUUID }
func (d *LastLoginRecorded) SubjectUUID() string     { return d.UserUUID }
func (d *UserSynced) SubjectUUID() string            { return d.UserUUID }
func (d *UserWarned) SubjectUUID() string            { return d.UserUUID }
func (d *DeactivationRequested) SubjectUUID() string { return d.UserUUID }
func (d *UserDeactivated) SubjectUUID() string       { return d.UserUUID }
func (d *DeactivationFailed) SubjectUUID() string    { return d.UserUUID }
func (d *UserReactivated) SubjectUUID() string       { return d.UserUUID }
func (d *SecurityAlert) SubjectUUID() string         { return d.UserUUID }
func (d *LoginFailed) SubjectUUID() string           { return d.UserUUID }

// registry maps each type to a constructor of a fresh value, so decoders never share state.
var registry = map[string]func() Data{
	TypeUserSession:           func() Data { return new(UserSession) },
	TypeLastLoginRecorded:     func() Data { return new(LastLoginRecorded) },
	TypeUserSynced:            func() Data { return new(UserSynced) },
	TypeClockTick:             func() Data { return new(ClockTick) },
	TypeUserWarned:            func() Data { return new(UserWarned) },
	TypeDeactivationRequested: func() Data { return new(DeactivationRequested) },
	TypePolicyHeld:            func() Data { return new(PolicyHeld) },
	TypeUserDeactivated:       func() Data { return new(UserDeactivated) },
	TypeDeactivationFailed:    func() Data { return new(DeactivationFailed) },
	TypeUserReactivated:       func() Data { return new(UserReactivated) },
	TypeSecurityAlert:         func() Data { return new(SecurityAlert) },
	TypeLoginFailed:           func() Data { return new(LoginFailed) },
	TypeReactivationRequested: func() Data { return new(ReactivationRequested) },
}

// NewData returns a fresh, zero data value for eventType, or false for an unknown type.
func NewData(eventType string) (Data, bool) {
	f, ok := registry[eventType]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Types lists every registered event type, sorted.
func Types() []string {
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// PerSite reports whether events of this type belong to one site and so carry the site
// extension. Only the clock tick is global.
func PerSite(eventType string) bool { return eventType != TypeClockTick }

// schemaFiles names each type's JSON Schema under schemas/.
var schemaFiles = map[string]string{
	TypeUserSession:           "user-session.json",
	TypeLastLoginRecorded:     "lastlogin-recorded.json",
	TypeUserSynced:            "user-synced.json",
	TypeClockTick:             "clock-tick.json",
	TypeUserWarned:            "user-warned.json",
	TypeDeactivationRequested: "deactivation-requested.json",
	TypePolicyHeld:            "policy-held.json",
	TypeUserDeactivated:       "user-deactivated.json",
	TypeDeactivationFailed:    "deactivation-failed.json",
	TypeUserReactivated:       "user-reactivated.json",
	TypeSecurityAlert:         "security-alert.json",
	TypeLoginFailed:           "login-failed.json",
	TypeReactivationRequested: "reactivation-requested.json",
}

// SchemaBaseURI prefixes every dataschema; the path after it is the file under schemas/.
const SchemaBaseURI = "https://dormant.dev/schemas/v1/"

// SchemaFile returns the file name under schemas/ of the type's JSON Schema, "" if unknown.
func SchemaFile(eventType string) string { return schemaFiles[eventType] }

// SchemaURI returns the dataschema attribute for the type, "" if unknown.
func SchemaURI(eventType string) string {
	f := schemaFiles[eventType]
	if f == "" {
		return ""
	}
	return SchemaBaseURI + f
}
