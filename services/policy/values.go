package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Values renders each setting of Keys the way the sites file spells it, for people to read
// (the admin page's policy table).
func (p Policy) Values() map[string]string {
	durations := func(ds []string) string { return strings.Join(ds, ", ") }
	steps := make([]string, len(p.WarnBefore))
	for i, d := range p.WarnBefore {
		steps[i] = formatDuration(d)
	}
	rules := make([]string, len(p.CustomRules))
	for i, r := range p.CustomRules {
		rules[i] = fmt.Sprintf("%s (%s", r.Name, r.Action)
		if r.Action == ActionShorten {
			rules[i] += " to " + formatDuration(r.Period)
		}
		rules[i] += "): " + r.Expr
	}
	prop := ""
	if p.Demo.Property.Name != "" {
		prop = p.Demo.Property.Name + "=" + p.Demo.Property.Value
	}
	return map[string]string{
		"enabled":                    strconv.FormatBool(p.Enabled),
		"dry_run":                    strconv.FormatBool(p.DryRun),
		"inactive_after":             formatDuration(p.InactiveAfter),
		"warn_before":                durations(steps),
		"demo.username_prefixes":     strings.Join(p.Demo.UsernamePrefixes, ", "),
		"demo.family_names":          strings.Join(p.Demo.FamilyNames, ", "),
		"demo.system_id_pattern":     p.Demo.SystemIDPattern,
		"demo.property":              prop,
		"demo.max_age":               formatDuration(p.Demo.MaxAge),
		"exempt_roles":               strings.Join(p.ExemptRoles, ", "),
		"never_touch":                strings.Join(p.NeverTouch, ", "),
		"max_deactivations_per_tick": strconv.Itoa(p.MaxDeactivationsPerTick),
		"max_deactivations_percent":  strconv.FormatFloat(p.MaxDeactivationsPercent, 'f', -1, 64),
		"max_clock_jump":             formatDuration(p.MaxClockJump),
		"feed_silence_window":        formatDuration(p.FeedSilenceWindow),
		"rejection_cooloff":          formatDuration(p.RejectionCoolOff),
		"failure_retry_after":        formatDuration(p.FailureRetryAfter),
		"custom_rules":               strings.Join(rules, "; "),
	}
}
