package actuator

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dormant-dev/dormant/services/policy"
)

// builtinProtected are OpenMRS's own accounts. The policy protects them too; the actuator
// repeats the rule because it does not trust its input.
var builtinProtected = []string{"admin", "daemon"}

// Guard says which accounts a site's actuator must never retire, whatever a decision says.
type Guard struct {
	// ActingUser is the account dormant logs in to OpenMRS as: retiring it would lock dormant
	// out (and is what a forged or buggy decision would most likely aim at).
	ActingUser string
	// NeverTouch are usernames or system ids protected by the site's policy.
	NeverTouch []string
	// ExemptRoles protect every user holding one of them.
	ExemptRoles []string
}

// GuardFor builds a site's guard from its acting user and effective policy.
func GuardFor(actingUser string, p policy.Policy) Guard {
	return Guard{ActingUser: actingUser, NeverTouch: slices.Clone(p.NeverTouch), ExemptRoles: slices.Clone(p.ExemptRoles)}
}

// Target is what is known about the account a decision names, from every source at hand
// (the decision itself, the policy projection, OpenMRS). Every name and role is checked: a
// decision that names one account while its uuid points at another is refused when either
// is protected.
type Target struct {
	// Names are usernames and system ids.
	Names []string
	Roles []string
}

// Refusal returns why the guard forbids retiring t, or "" when it does not. Names and roles
// compare without regard to case: refusing too much is the safe side.
func (g Guard) Refusal(t Target) string {
	for _, n := range t.Names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if g.ActingUser != "" && strings.EqualFold(n, g.ActingUser) {
			return fmt.Sprintf("%q is the account dormant acts as", n)
		}
		for _, p := range builtinProtected {
			if strings.EqualFold(n, p) {
				return fmt.Sprintf("%q is an OpenMRS system account", n)
			}
		}
		for _, p := range g.NeverTouch {
			if strings.EqualFold(n, strings.TrimSpace(p)) {
				return fmt.Sprintf("%q is on the site's never_touch list", n)
			}
		}
	}
	for _, r := range t.Roles {
		for _, e := range g.ExemptRoles {
			if strings.EqualFold(strings.TrimSpace(r), strings.TrimSpace(e)) {
				return fmt.Sprintf("the user holds the exempt role %q", r)
			}
		}
	}
	return ""
}
