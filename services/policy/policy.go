// Package policy holds the decision rules of dormant as pure functions: from the facts about a
// user, the site's policy, the state kept for that user and the tick time to an outcome (nothing,
// protected, warn, deactivate). It does no I/O: the service loads users, state and exemptions,
// calls Evaluate and persists what it returns.
package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Day is the unit admins think in; durations in the configuration default to it.
const Day = 24 * time.Hour

// Rule names as they appear in events and reasons. Custom rules use their own names.
const (
	RuleInactiveAfter = "inactive_after"
	RuleDemoMaxAge    = "demo_max_age"
)

// Policy is one site's effective policy.
type Policy struct {
	// Enabled is false until an admin turns dormant on for the site.
	Enabled bool
	// DryRun computes and emits decisions as would-be; nothing is retired. A new site starts in
	// dry run so admins see what would happen before anything does.
	DryRun bool
	// InactiveAfter is how long without activity before an account is retired.
	InactiveAfter time.Duration
	// Demo recognises demo and test accounts, which are retired a short time after creation.
	Demo Demo
	// WarnBefore lists how long before the deactivation day each warning goes out, largest first.
	WarnBefore []time.Duration
	// ExemptRoles protects every user holding one of these roles.
	ExemptRoles []string
	// NeverTouch lists usernames (or system ids) never decided on. admin and daemon are
	// protected whatever this list says; the service adds the account dormant acts as.
	NeverTouch []string
	// MaxDeactivationsPerTick holds a batch larger than this; 0 turns the absolute limit off.
	MaxDeactivationsPerTick int
	// MaxDeactivationsPercent holds a batch larger than this share of the site's active users;
	// 0 turns the relative limit off.
	MaxDeactivationsPercent float64
	// MaxClockJump holds deactivations on a tick further than this after the previous one. It
	// is also how far ahead of a user's first warning the schedule is fixed (see Evaluate).
	MaxClockJump time.Duration
	// FeedSilenceWindow holds deactivations when the site's login feed has been silent for
	// longer than this; 0 turns the check off.
	FeedSilenceWindow time.Duration
	// RejectionCoolOff is how long after an admin rejects a held batch its users are proposed
	// again at the earliest: they return to due, are warned afresh for the new day and then
	// go through the guard again (docs/policy.md, "Held batches").
	RejectionCoolOff time.Duration
	// FailureRetryAfter is how long after the actuator gives up on a deactivation the user
	// is proposed again: they return to due with the deactivation day moved this far
	// (docs/policy.md, "Failed deactivations").
	FailureRetryAfter time.Duration
	// CustomRules are CEL expressions over the user that exempt it or shorten its period.
	CustomRules []CustomRule
}

// Demo says which accounts are demo or test accounts. Any one criterion matching is enough.
type Demo struct {
	UsernamePrefixes []string
	FamilyNames      []string
	// SystemIDPattern is a Go regular expression matched against the system id; empty is off.
	SystemIDPattern string
	// Property matches a user property; an empty Name is off.
	Property PropertyMatch
	// MaxAge is how long after creation a demo account is retired.
	MaxAge time.Duration
}

// PropertyMatch matches a user property by name and value; an empty Value matches any
// non-empty value.
type PropertyMatch struct {
	Name  string
	Value string
}

// Action is what a custom rule does to the users it matches.
type Action string

// Custom rule actions.
const (
	// ActionExempt protects the matching users.
	ActionExempt Action = "exempt"
	// ActionShorten measures the matching users against the rule's Period instead of InactiveAfter.
	ActionShorten Action = "shorten"
)

// CustomRule is an admin's own rule, written in CEL (see docs/policy.md for the variables).
type CustomRule struct {
	Name   string
	Expr   string
	Action Action
	// Period replaces InactiveAfter for matching users; only for ActionShorten.
	Period time.Duration
}

// DefaultPolicy is what a site gets when nothing is configured: off, and in dry run once on.
func DefaultPolicy() Policy {
	return Policy{
		Enabled:       false,
		DryRun:        true,
		InactiveAfter: 90 * Day,
		Demo: Demo{
			UsernamePrefixes: []string{"test-"},
			FamilyNames:      []string{"Test Account"},
			MaxAge:           2 * Day,
		},
		WarnBefore:              []time.Duration{14 * Day, 7 * Day, 1 * Day},
		ExemptRoles:             []string{"System Developer"},
		NeverTouch:              []string{"admin", "daemon"},
		MaxDeactivationsPerTick: 50,
		MaxDeactivationsPercent: 5,
		MaxClockJump:            2 * Day,
		// Three days covers an ordinary weekend at an outpatient clinic (Friday evening to Monday
		// morning) without holding anything, and still catches a broken hook well before its
		// missing logins could push anybody past the deactivation day unnoticed.
		FeedSilenceWindow: 3 * Day,
		// A month gives the admin who rejected a batch time to do what the rejection was for
		// (exempt the locums, fix the login feed, change the policy) before the same users
		// come round again, and it is short enough that nobody escapes the policy by a
		// rejection alone: with the default warnings they are warned again from day 16.
		RejectionCoolOff: 30 * Day,
		// The actuator has already retried for minutes (DORMANT_ACTUATOR_MAX_ATTEMPTS with
		// backoff) when it gives up: what is left is an outage, a missing privilege or a
		// misconfiguration that needs a person. A day gives them time to fix it, keeps a
		// dormant account live at most a day longer per failure, and reminds the admins
		// daily (the failure alert) until it is fixed.
		FailureRetryAfter: Day,
	}
}

// builtinNeverTouch are OpenMRS's own accounts: DESIGN.md says never, so configuration cannot
// unprotect them.
var builtinNeverTouch = []string{"admin", "daemon"}

var ruleName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// reservedNames cannot name a custom rule: they would make reasons and events ambiguous.
var reservedNames = []string{RuleInactiveAfter, RuleDemoMaxAge, ProtectedRetired, ProtectedNeverTouch, ProtectedExemptRole, ProtectedExemption}

// Validate reports every problem at once, each naming the field as the configuration spells it.
func (p Policy) Validate() error {
	var errs []error
	bad := func(key string, v any, why string) {
		errs = append(errs, fmt.Errorf("%s %v: %s", key, v, why))
	}
	if p.InactiveAfter <= 0 {
		bad("inactive_after", p.InactiveAfter, "must be positive")
	}
	if p.Demo.MaxAge <= 0 {
		bad("demo.max_age", p.Demo.MaxAge, "must be positive")
	}
	if len(p.WarnBefore) == 0 {
		// Nobody is retired unwarned: a policy without warnings cannot keep that promise.
		bad("warn_before", "[]", "needs at least one step")
	}
	seen := map[time.Duration]bool{}
	for _, s := range p.WarnBefore {
		if s <= 0 {
			bad("warn_before", formatDuration(s), "steps must be positive")
		}
		if seen[s] {
			bad("warn_before", formatDuration(s), "listed twice")
		}
		seen[s] = true
	}
	smallest := time.Duration(0)
	if len(p.WarnBefore) > 0 {
		smallest = slices.Min(p.WarnBefore)
	}
	// Every rule must leave room for at least one warning, or its users would be retired unwarned.
	period := func(key string, d time.Duration) {
		if d > 0 && smallest > 0 && d <= smallest {
			bad(key, formatDuration(d), fmt.Sprintf("must be longer than the smallest warning step (%s)", formatDuration(smallest)))
		}
	}
	period("inactive_after", p.InactiveAfter)
	period("demo.max_age", p.Demo.MaxAge)
	if p.Demo.SystemIDPattern != "" {
		if _, err := regexp.Compile(p.Demo.SystemIDPattern); err != nil {
			bad("demo.system_id_pattern", strconvQuote(p.Demo.SystemIDPattern), err.Error())
		}
	}
	if p.Demo.Property.Name == "" && p.Demo.Property.Value != "" {
		bad("demo.property", strconvQuote(p.Demo.Property.Value), "a value needs a property name")
	}
	for _, s := range p.Demo.UsernamePrefixes {
		if strings.TrimSpace(s) == "" {
			bad("demo.username_prefixes", strconvQuote(s), "an empty prefix would match every user")
		}
	}
	if p.MaxDeactivationsPerTick < 0 {
		bad("max_deactivations_per_tick", p.MaxDeactivationsPerTick, "must be 0 (off) or more")
	}
	if p.MaxDeactivationsPercent < 0 || p.MaxDeactivationsPercent > 100 {
		bad("max_deactivations_percent", p.MaxDeactivationsPercent, "must be between 0 (off) and 100")
	}
	if p.MaxClockJump <= 0 {
		bad("max_clock_jump", formatDuration(p.MaxClockJump), "must be positive")
	}
	if p.FeedSilenceWindow < 0 {
		bad("feed_silence_window", formatDuration(p.FeedSilenceWindow), "must be 0 (off) or positive")
	}
	if p.RejectionCoolOff < Day {
		// Shorter would propose a rejected batch again on the next daily tick: a rejection
		// that does not hold is no decision.
		bad("rejection_cooloff", formatDuration(p.RejectionCoolOff), "must be at least 1d")
	}
	if p.FailureRetryAfter < Day {
		// Shorter would retry on the next daily tick at the earliest anyway, and with a
		// shorter clock period hammer a failing OpenMRS and flood the admins with alerts.
		bad("failure_retry_after", formatDuration(p.FailureRetryAfter), "must be at least 1d")
	}
	names := map[string]bool{}
	for i, r := range p.CustomRules {
		at := fmt.Sprintf("custom_rules[%d]", i)
		switch {
		case !ruleName.MatchString(r.Name):
			bad(at+".name", strconvQuote(r.Name), "must match [a-z0-9][a-z0-9_.-]{0,62}")
		case slices.Contains(reservedNames, r.Name):
			bad(at+".name", strconvQuote(r.Name), "is reserved for a built-in rule")
		case names[r.Name]:
			bad(at+".name", strconvQuote(r.Name), "listed twice")
		}
		names[r.Name] = true
		if strings.TrimSpace(r.Expr) == "" {
			bad(at+".expr", `""`, "must not be empty")
		}
		switch r.Action {
		case ActionExempt:
			if r.Period != 0 {
				bad(at+".period", formatDuration(r.Period), "only a shorten rule has a period")
			}
		case ActionShorten:
			if r.Period <= 0 || r.Period >= p.InactiveAfter {
				bad(at+".period", formatDuration(r.Period), "must be positive and shorter than inactive_after")
			}
			period(at+".period", r.Period)
		default:
			bad(at+".action", strconvQuote(string(r.Action)), `must be "exempt" or "shorten"`)
		}
	}
	return errors.Join(errs...)
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// canonical is the policy in a form whose JSON does not depend on list order where order means
// nothing, so equal policies share a Version.
type canonical struct {
	Enabled        bool         `json:"enabled"`
	DryRun         bool         `json:"dry_run"`
	InactiveAfter  int64        `json:"inactive_after_s"`
	DemoPrefixes   []string     `json:"demo_username_prefixes"`
	DemoFamily     []string     `json:"demo_family_names"`
	DemoSystemID   string       `json:"demo_system_id_pattern"`
	DemoProperty   [2]string    `json:"demo_property"`
	DemoMaxAge     int64        `json:"demo_max_age_s"`
	WarnBefore     []int64      `json:"warn_before_s"`
	ExemptRoles    []string     `json:"exempt_roles"`
	NeverTouch     []string     `json:"never_touch"`
	MaxPerTick     int          `json:"max_deactivations_per_tick"`
	MaxPercent     float64      `json:"max_deactivations_percent"`
	MaxClockJump   int64        `json:"max_clock_jump_s"`
	FeedSilence    int64        `json:"feed_silence_window_s"`
	CoolOff        int64        `json:"rejection_cooloff_s"`
	FailureRetry   int64        `json:"failure_retry_after_s"`
	CustomRules    []CustomRule `json:"custom_rules"`
	FormatRevision int          `json:"format"`
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

// Version is a stable fingerprint of the effective policy, carried as policy_version in
// decisions so a reader can tell which policy made them. Custom rules keep their order: it
// decides which rule names a decision when two are due together.
func (p Policy) Version() string {
	steps := make([]int64, len(p.WarnBefore))
	for i, s := range sortedSteps(p.WarnBefore) {
		steps[i] = int64(s / time.Second)
	}
	c := canonical{
		Enabled: p.Enabled, DryRun: p.DryRun,
		InactiveAfter: int64(p.InactiveAfter / time.Second),
		DemoPrefixes:  sortedCopy(p.Demo.UsernamePrefixes), DemoFamily: sortedCopy(p.Demo.FamilyNames),
		DemoSystemID: p.Demo.SystemIDPattern, DemoProperty: [2]string{p.Demo.Property.Name, p.Demo.Property.Value},
		DemoMaxAge: int64(p.Demo.MaxAge / time.Second), WarnBefore: steps,
		ExemptRoles: sortedCopy(p.ExemptRoles), NeverTouch: sortedCopy(lowerAll(p.NeverTouch)),
		MaxPerTick: p.MaxDeactivationsPerTick, MaxPercent: p.MaxDeactivationsPercent,
		MaxClockJump: int64(p.MaxClockJump / time.Second), FeedSilence: int64(p.FeedSilenceWindow / time.Second),
		CoolOff: int64(p.RejectionCoolOff / time.Second), FailureRetry: int64(p.FailureRetryAfter / time.Second),
		CustomRules: p.CustomRules, FormatRevision: 1,
	}
	raw, err := json.Marshal(c)
	if err != nil {
		// Only plain data goes in: a failure here is a programming error.
		panic(fmt.Sprintf("policy version: %v", err))
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

func lowerAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToLower(v)
	}
	return out
}

// sortedSteps returns the warning steps largest first, without duplicates.
func sortedSteps(steps []time.Duration) []time.Duration {
	c := slices.Clone(steps)
	slices.SortFunc(c, func(a, b time.Duration) int { return cmp.Compare(b, a) })
	return slices.Compact(c)
}
