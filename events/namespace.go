package events

import (
	"fmt"
	"regexp"
	"strings"
)

// Namespace computes every subject and stream name from one root, so tests can run side by
// side on one NATS server under roots of their own. Nothing else in dormant spells a subject.
type Namespace struct {
	Root string
}

// DefaultNamespace is the production root.
var DefaultNamespace = Namespace{Root: "dormant"}

var (
	rootPattern = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	sitePattern = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)
)

// ValidSite reports whether site can be used as a site id and subject token.
//
// Hand-written for the ingest hot path; TestValidSiteAgreesWithThePattern keeps it equal to
// sitePattern, which error messages quote.
func ValidSite(site string) bool {
	if len(site) < 1 || len(site) > 40 {
		return false
	}
	for i := 0; i < len(site); i++ {
		c := site[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Validate checks that the root is a single lower-case subject token, which also keeps
// the derived stream names within JetStream's allowed characters.
func (n Namespace) Validate() error {
	if !rootPattern.MatchString(n.Root) {
		return fmt.Errorf("namespace root %q: must match %s", n.Root, rootPattern)
	}
	return nil
}

func (n Namespace) sub(parts ...string) string {
	return n.Root + "." + strings.Join(parts, ".")
}

// Auth is where authentication events of a site arrive.
func (n Namespace) Auth(site string) string { return n.sub("auth", site) }

// AuthAll matches the authentication events of every site.
func (n Namespace) AuthAll() string { return n.sub("auth", ">") }

// LastLogin carries LastLoginRecorded.
func (n Namespace) LastLogin(site string) string { return n.sub("records", site, "lastlogin") }

// UserSynced carries UserSynced.
func (n Namespace) UserSynced(site string) string { return n.sub("records", site, "user") }

// FailedLogin carries LoginFailed.
func (n Namespace) FailedLogin(site string) string { return n.sub("records", site, "failed-login") }

// RecordsAll matches every record subject.
func (n Namespace) RecordsAll() string { return n.sub("records", ">") }

// Tick carries ClockTick; time is global, so the subject has no site.
func (n Namespace) Tick() string { return n.sub("clock", "tick") }

// ClockAll matches every clock subject.
func (n Namespace) ClockAll() string { return n.sub("clock", ">") }

// Warned carries UserWarned.
func (n Namespace) Warned(site string) string { return n.sub("decisions", site, "warned") }

// DeactivationRequested carries DeactivationRequested.
func (n Namespace) DeactivationRequested(site string) string {
	return n.sub("decisions", site, "deactivation-requested")
}

// Held carries PolicyHeld.
func (n Namespace) Held(site string) string { return n.sub("decisions", site, "held") }

// ReactivationRequested carries ReactivationRequested.
func (n Namespace) ReactivationRequested(site string) string {
	return n.sub("decisions", site, "reactivation-requested")
}

// DecisionsAll matches every decision subject.
func (n Namespace) DecisionsAll() string { return n.sub("decisions", ">") }

// Deactivated carries UserDeactivated.
func (n Namespace) Deactivated(site string) string { return n.sub("actions", site, "deactivated") }

// DeactivationFailed carries DeactivationFailed.
func (n Namespace) DeactivationFailed(site string) string { return n.sub("actions", site, "failed") }

// Reactivated carries UserReactivated.
func (n Namespace) Reactivated(site string) string { return n.sub("actions", site, "reactivated") }

// ActionsAll matches every action subject.
func (n Namespace) ActionsAll() string { return n.sub("actions", ">") }

// Security carries SecurityAlert.
func (n Namespace) Security(site string) string { return n.sub("security", site) }

// SecurityAll matches every security subject.
func (n Namespace) SecurityAll() string { return n.sub("security", ">") }

// DLQ is where a consumer parks what it could not decode or validate; origin names the
// consumer's input, such as "auth", so one DLQ stream serves every consumer.
func (n Namespace) DLQ(origin string) string { return n.sub("dlq", origin) }

// DLQAll matches every dead-letter subject.
func (n Namespace) DLQAll() string { return n.sub("dlq", ">") }

// perSiteGroups are the second tokens of subjects whose third token is the site.
var perSiteGroups = map[string]bool{
	"auth": true, "records": true, "decisions": true, "actions": true, "security": true,
}

// SiteFromSubject returns the site token of a per-site subject under any root
// (root.<group>.<site>[.<kind>]), false for the tick, DLQ and anything else.
//
// It cuts the subject by hand rather than with strings.Split, which would allocate for every
// message login-ingest consumes.
func SiteFromSubject(subject string) (string, bool) {
	_, rest, ok := strings.Cut(subject, ".")
	if !ok {
		return "", false
	}
	group, rest, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	site, kind, hasKind := strings.Cut(rest, ".")
	if hasKind && strings.Contains(kind, ".") || !perSiteGroups[group] {
		return "", false
	}
	if (group == "auth" || group == "security") == hasKind {
		return "", false
	}
	if !ValidSite(site) {
		return "", false
	}
	return site, true
}

// SubjectFor returns the subject that events carrying d are published on; the clock tick
// ignores site. An unregistered Data type gives "".
func (n Namespace) SubjectFor(site string, d Data) string {
	switch d.EventType() {
	case TypeUserSession:
		return n.Auth(site)
	case TypeLastLoginRecorded:
		return n.LastLogin(site)
	case TypeUserSynced:
		return n.UserSynced(site)
	case TypeLoginFailed:
		return n.FailedLogin(site)
	case TypeClockTick:
		return n.Tick()
	case TypeUserWarned:
		return n.Warned(site)
	case TypeDeactivationRequested:
		return n.DeactivationRequested(site)
	case TypePolicyHeld:
		return n.Held(site)
	case TypeReactivationRequested:
		return n.ReactivationRequested(site)
	case TypeUserDeactivated:
		return n.Deactivated(site)
	case TypeDeactivationFailed:
		return n.DeactivationFailed(site)
	case TypeUserReactivated:
		return n.Reactivated(site)
	case TypeSecurityAlert:
		return n.Security(site)
	}
	return ""
}

// StreamSpec is one JetStream stream: its name and the subjects it captures.
type StreamSpec struct {
	Name     string
	Subjects []string
}

func (n Namespace) stream(group string) string { return strings.ToUpper(n.Root) + "_" + group }

// StreamAuth is the stream of authentication events.
func (n Namespace) StreamAuth() string { return n.stream("AUTH") }

// StreamRecords is the stream of last-login, roster and failed-login records.
func (n Namespace) StreamRecords() string { return n.stream("RECORDS") }

// StreamClock is the stream of clock ticks.
func (n Namespace) StreamClock() string { return n.stream("CLOCK") }

// StreamDecisions is the stream of policy decisions.
func (n Namespace) StreamDecisions() string { return n.stream("DECISIONS") }

// StreamActions is the stream of what the actuator did.
func (n Namespace) StreamActions() string { return n.stream("ACTIONS") }

// StreamSecurity is the stream of security alerts.
func (n Namespace) StreamSecurity() string { return n.stream("SECURITY") }

// StreamDLQ is the dead-letter stream.
func (n Namespace) StreamDLQ() string { return n.stream("DLQ") }

// Streams lists every stream dormant provisions, each with its single subject filter.
func (n Namespace) Streams() []StreamSpec {
	return []StreamSpec{
		{Name: n.StreamAuth(), Subjects: []string{n.AuthAll()}},
		{Name: n.StreamRecords(), Subjects: []string{n.RecordsAll()}},
		{Name: n.StreamClock(), Subjects: []string{n.ClockAll()}},
		{Name: n.StreamDecisions(), Subjects: []string{n.DecisionsAll()}},
		{Name: n.StreamActions(), Subjects: []string{n.ActionsAll()}},
		{Name: n.StreamSecurity(), Subjects: []string{n.SecurityAll()}},
		{Name: n.StreamDLQ(), Subjects: []string{n.DLQAll()}},
	}
}
