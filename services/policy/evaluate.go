package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Kind is what a tick decided for one user.
type Kind string

// Outcome kinds.
const (
	// KindNone: nothing to do at this tick (the user may still have a deactivation planned).
	KindNone Kind = "none"
	// KindProtected: the user is never decided on while this holds; Outcome.Protection says why.
	KindProtected Kind = "protected"
	// KindWarn: emit dormant.user.warned.
	KindWarn Kind = "warn"
	// KindDeactivate: emit dormant.user.deactivation.requested (subject to Guard).
	KindDeactivate Kind = "deactivate"
)

// Why a user is protected; a custom exempt rule gives its own name instead.
const (
	ProtectedRetired    = "retired"
	ProtectedNeverTouch = "never_touch"
	ProtectedExemptRole = "exempt_role"
	ProtectedExemption  = "exemption"
)

// State is what the service persists per user between ticks. Its zero value means "nothing
// planned"; the service may delete a row whose state IsZero.
//
// A plan is the tuple (Rule, Anchor, Due, DryRun): when the user's current facts give another
// tuple (a login moved the anchor, a policy change moved the due day, dry run was switched) the
// plan is dropped and made afresh, which cancels pending warnings and deactivation.
type State struct {
	// Rule is the rule the plan follows.
	Rule string
	// Anchor is the activity the cycle is measured from: the last activity, or the creation
	// date under demo_max_age. A later anchor is a new cycle.
	Anchor time.Time
	// Due is Anchor plus the rule's period when the plan was made.
	Due time.Time
	// DeactivateOn is the day announced in warnings: Due, or later when the user was first
	// found already past the first warning's date. Fixed for the cycle once set.
	DeactivateOn time.Time
	// Warned is the smallest warning step sent in this cycle; 0 when none was.
	Warned time.Duration
	// Requested is set once the deactivation of this cycle was requested.
	Requested bool
	// DryRun records that the plan was made in dry run: its warnings were only would-be, so
	// going live plans again and warns for real.
	DryRun bool
}

// IsZero reports whether nothing is planned.
func (s State) IsZero() bool { return s == State{} }

// Outcome is the decision for one user at one tick.
type Outcome struct {
	Kind Kind
	// Rule is the rule the user is measured by (warn, deactivate, and none with a plan).
	Rule string
	// Protection is why a protected user is protected: retired, never_touch, exempt_role,
	// exemption or a custom rule's name.
	Protection string
	// Reason is human text: the retire reason sent to OpenMRS, or why the user is protected.
	Reason string
	// LastActivity is what inactivity is measured from (see LastActivity).
	LastActivity time.Time
	// Step is the warning step that fired (KindWarn).
	Step time.Duration
	// DaysLeft is whole days, rounded up, until DeactivateOn (KindWarn).
	DaysLeft int
	// DeactivateOn is the planned deactivation day, when there is a plan.
	DeactivateOn time.Time
	// DecidedAt is the tick time of a warning or deactivation.
	DecidedAt time.Time
	// WouldBe marks a decision taken in dry run: shown and emitted as would-be, never acted on.
	WouldBe bool
	// ID is the WarningID or DecisionID of the event to emit: deterministic, so replays dedupe.
	ID string
	// RuleErrors lists custom rules that failed for this user. A failing exempt rule protects
	// (never wrongly deactivate); a failing shorten rule is left out.
	RuleErrors []string
}

// Rules is a compiled policy: the CEL programs and patterns are built once, so Evaluate is
// cheap enough to run for every candidate on every tick.
type Rules struct {
	p          Policy
	systemID   *regexp.Regexp
	custom     []customRule
	inactive   []time.Duration // warning steps of inactive_after, largest first
	demo       []time.Duration // warning steps of demo_max_age
	neverTouch []string
}

// Compile validates p and prepares it for Evaluate.
func Compile(p Policy) (*Rules, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p.WarnBefore = sortedSteps(p.WarnBefore)
	r := &Rules{p: p}
	if p.Demo.SystemIDPattern != "" {
		r.systemID = regexp.MustCompile(p.Demo.SystemIDPattern) // Validate compiled it already
	}
	custom, err := compileCustomRules(p.CustomRules)
	if err != nil {
		return nil, err
	}
	for i := range custom {
		custom[i].steps = p.stepsFor(custom[i].Period)
	}
	r.custom = custom
	r.inactive = p.stepsFor(p.InactiveAfter)
	r.demo = p.stepsFor(p.Demo.MaxAge)
	r.neverTouch = append(slices.Clone(builtinNeverTouch), p.NeverTouch...)
	return r, nil
}

// Policy returns the policy the rules were compiled from.
func (r *Rules) Policy() Policy { return r.p }

// stepsFor gives a rule's warning steps: those shorter than its period, largest first.
func (p Policy) stepsFor(period time.Duration) []time.Duration {
	var out []time.Duration
	for _, s := range sortedSteps(p.WarnBefore) {
		if s < period {
			out = append(out, s)
		}
	}
	return out
}

// IsDemo says whether the demo rule applies to u. The projection can store it as a column
// (recomputed when the policy changes) so the store can preselect demo accounts.
func (r *Rules) IsDemo(u User) bool {
	d := r.p.Demo
	for _, prefix := range d.UsernamePrefixes {
		if len(u.Username) >= len(prefix) && strings.EqualFold(u.Username[:len(prefix)], prefix) {
			return true
		}
	}
	for _, name := range d.FamilyNames {
		if strings.EqualFold(strings.TrimSpace(u.FamilyName), name) {
			return true
		}
	}
	if r.systemID != nil && r.systemID.MatchString(u.SystemID) {
		return true
	}
	if d.Property.Name != "" {
		v, ok := u.Properties[d.Property.Name]
		if ok && (d.Property.Value == "" && v != "" || d.Property.Value != "" && v == d.Property.Value) {
			return true
		}
	}
	return false
}

// schedule is one rule's measure of a user.
type schedule struct {
	rule   string
	anchor time.Time
	period time.Duration
	steps  []time.Duration
}

func (s schedule) due() time.Time { return s.anchor.Add(s.period) }

// Evaluate decides what the tick at now means for u, given the state kept from earlier ticks,
// the user's exemptions and the site's baseline. It returns the outcome and the state to keep.
// It is pure: the same arguments always give the same result.
//
// The rules, in order:
//   - A disabled policy decides nothing and keeps nothing.
//   - Retired users, admin/daemon and the never_touch list, users with an exempt role, an
//     active exemption or a matching custom exempt rule are protected; their plan is dropped,
//     so when the protection ends they are found afresh and warned before anything happens.
//   - The user is measured by the rule that falls due first: inactive_after from the last
//     activity, demo_max_age from creation for demo accounts, and custom shorten rules from the
//     last activity.
//   - The plan is fixed once the tick is within MaxClockJump of the first warning's date. Its
//     deactivation day is the due day, unless the user is first found already past the first
//     warning's date: then it is now plus the largest step, and the warnings follow from there.
//   - At each tick only the most recent warning step whose date has passed fires, once per
//     cycle: a tick that arrives late sends the 7-day warning, not the 14- and the 7-day ones.
//   - On the deactivation day the deactivation is requested, once per cycle, and only if the
//     user was warned in this cycle; a user who was not (the ticks skipped the whole warning
//     period) gets a new day at now plus the largest step, and a warning now.
func (r *Rules) Evaluate(u User, st State, ex []Exemption, baseline, now time.Time) (Outcome, State) {
	p := r.p
	if !p.Enabled {
		return Outcome{Kind: KindNone}, State{}
	}
	activity := LastActivity(u, baseline)
	act := celUser{u: &u, activity: activity, now: now}
	out := Outcome{Kind: KindNone, LastActivity: activity}
	if why, reason := r.protection(u, ex, now, act, &out); why != "" {
		out.Kind, out.Protection, out.Reason = KindProtected, why, reason
		return out, State{}
	}

	s := r.pick(u, activity, act, &out)
	due := s.due()
	largest := s.steps[0] // Validate guarantees every rule at least one step
	first := due.Add(-largest)
	if st.Rule != s.rule || !st.Anchor.Equal(s.anchor) || !st.Due.Equal(due) || st.DryRun != p.DryRun || st.DeactivateOn.IsZero() {
		if !now.After(first.Add(-p.MaxClockJump)) {
			// Too early to plan; planning ahead of the first warning (rather than at it) is what
			// lets a user crossing it normally keep the exact due day.
			return out, State{}
		}
		st = State{Rule: s.rule, Anchor: s.anchor, Due: due, DeactivateOn: due, DryRun: p.DryRun}
		if now.After(first) {
			st.DeactivateOn = now.Add(largest)
		}
	}
	out.Rule, out.DeactivateOn = s.rule, st.DeactivateOn
	if st.Requested {
		return out, st
	}
	if !now.Before(st.DeactivateOn) {
		if st.Warned != 0 {
			st.Requested = true
			out.Kind, out.DecidedAt, out.WouldBe = KindDeactivate, now, p.DryRun
			out.Reason = r.reason(u, s, activity, now)
			out.ID = DecisionID(u.Site, u.UUID, st)
			return out, st
		}
		st.DeactivateOn = now.Add(largest)
		out.DeactivateOn = st.DeactivateOn
	}
	// The most recent step whose date has passed: steps run largest first, so the last match.
	step := time.Duration(0)
	for _, s := range s.steps {
		if !now.Before(st.DeactivateOn.Add(-s)) {
			step = s
		}
	}
	if step == 0 || (st.Warned != 0 && step >= st.Warned) {
		return out, st
	}
	st.Warned = step
	out.Kind, out.Step, out.DecidedAt, out.WouldBe = KindWarn, step, now, p.DryRun
	out.DaysLeft = int((st.DeactivateOn.Sub(now) + Day - 1) / Day)
	out.Reason = r.reason(u, s, activity, now)
	out.ID = WarningID(u.Site, u.UUID, st, step)
	return out, st
}

// protection returns why u is protected at now ("" if not) and a human reason.
func (r *Rules) protection(u User, ex []Exemption, now time.Time, act celUser, out *Outcome) (string, string) {
	if u.Retired {
		return ProtectedRetired, "already retired"
	}
	for _, n := range r.neverTouch {
		if strings.EqualFold(u.Username, n) || (u.SystemID != "" && strings.EqualFold(u.SystemID, n)) {
			return ProtectedNeverTouch, fmt.Sprintf("%s is never touched", n)
		}
	}
	for _, role := range u.Roles {
		for _, exempt := range r.p.ExemptRoles {
			if strings.EqualFold(role, exempt) {
				return ProtectedExemptRole, fmt.Sprintf("holds exempt role %s", role)
			}
		}
	}
	for _, e := range ex {
		if e.UserUUID != u.UUID || !e.ActiveAt(now) {
			continue
		}
		until := "until removed"
		if e.Until != nil {
			until = "until " + e.Until.UTC().Format(time.DateOnly)
		}
		return ProtectedExemption, fmt.Sprintf("exempted by %s %s: %s", e.By, until, e.Reason)
	}
	for _, c := range r.custom {
		if c.Action != ActionExempt {
			continue
		}
		ok, err := c.match(act)
		if err != nil {
			out.RuleErrors = append(out.RuleErrors, fmt.Sprintf("%s: %v", c.Name, err))
			return c.Name, fmt.Sprintf("custom exempt rule %s failed (%v): protected until it is fixed", c.Name, err)
		}
		if ok {
			return c.Name, fmt.Sprintf("exempted by custom rule %s", c.Name)
		}
	}
	return "", ""
}

// pick returns the rule that falls due first; on a tie the built-in rule, then the first listed.
func (r *Rules) pick(u User, activity time.Time, act celUser, out *Outcome) schedule {
	best := schedule{rule: RuleInactiveAfter, anchor: activity, period: r.p.InactiveAfter, steps: r.inactive}
	consider := func(s schedule) {
		if s.due().Before(best.due()) {
			best = s
		}
	}
	if r.IsDemo(u) {
		consider(schedule{rule: RuleDemoMaxAge, anchor: u.CreatedAt, period: r.p.Demo.MaxAge, steps: r.demo})
	}
	for _, c := range r.custom {
		if c.Action != ActionShorten {
			continue
		}
		ok, err := c.match(act)
		if err != nil {
			out.RuleErrors = append(out.RuleErrors, fmt.Sprintf("%s: %v", c.Name, err))
			continue
		}
		if ok {
			consider(schedule{rule: c.Name, anchor: activity, period: c.Period, steps: c.steps})
		}
	}
	return best
}

func (r *Rules) reason(u User, s schedule, activity, now time.Time) string {
	days := wholeDays(now.Sub(s.anchor))
	rule := fmt.Sprintf("rule %s (%s)", s.rule, formatDuration(s.period))
	switch {
	case s.rule == RuleDemoMaxAge:
		return fmt.Sprintf("demo or test account created %s (%d days ago); %s", s.anchor.UTC().Format(time.DateOnly), days, rule)
	case u.LastLoginAt == nil:
		return fmt.Sprintf("no login recorded; inactive since %s, the later of creation and dormant's start (%d days); %s", activity.UTC().Format(time.DateOnly), days, rule)
	default:
		return fmt.Sprintf("no login since %s (%d days); %s", activity.UTC().Format(time.DateOnly), days, rule)
	}
}
