package policy

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Source says where an effective policy value came from, for the admin page.
type Source string

// Sources, weakest first. A stronger source overrides a weaker one.
const (
	SourceDefault     Source = "default"
	SourceOpenMRSCore Source = "openmrs-core" // users.numberOfDaysToRetire, only when nothing else sets inactive_after
	SourceFile        Source = "file"
	SourceOpenMRS     Source = "openmrs" // a dormant.* global property
)

// Provenance maps each policy key (as the YAML file spells it) to where its value came from.
type Provenance map[string]Source

// Keys lists every policy key in the order the admin page shows them.
var Keys = []string{
	"enabled", "dry_run", "inactive_after", "warn_before",
	"demo.username_prefixes", "demo.family_names", "demo.system_id_pattern", "demo.property", "demo.max_age",
	"exempt_roles", "never_touch", "max_deactivations_per_tick", "max_deactivations_percent",
	"max_clock_jump", "feed_silence_window", "rejection_cooloff", "failure_retry_after", "custom_rules",
}

// GlobalProperties maps each OpenMRS global property dormant reads to the policy key it sets.
// custom_rules has none: CEL does not belong in a one-line setting.
var GlobalProperties = map[string]string{
	"dormant.enabled":                 "enabled",
	"dormant.dryRun":                  "dry_run",
	"dormant.inactiveAfterDays":       "inactive_after",
	"dormant.warnBeforeDays":          "warn_before",
	"dormant.demoUsernamePrefixes":    "demo.username_prefixes",
	"dormant.demoFamilyNames":         "demo.family_names",
	"dormant.demoSystemIdPattern":     "demo.system_id_pattern",
	"dormant.demoProperty":            "demo.property",
	"dormant.demoMaxAgeDays":          "demo.max_age",
	"dormant.exemptRoles":             "exempt_roles",
	"dormant.neverTouch":              "never_touch",
	"dormant.maxDeactivationsPerTick": "max_deactivations_per_tick",
	"dormant.maxDeactivationsPercent": "max_deactivations_percent",
	"dormant.maxClockJumpDays":        "max_clock_jump",
	"dormant.feedSilenceWindowDays":   "feed_silence_window",
	"dormant.rejectionCooloffDays":    "rejection_cooloff",
	"dormant.failureRetryAfterDays":   "failure_retry_after",
}

// CoreRetireDays is OpenMRS core's own auto-retire setting (2.7+), in days.
const CoreRetireDays = "users.numberOfDaysToRetire"

// Loaded is the effective policy of a site and where each value came from.
type Loaded struct {
	Policy     Policy
	Provenance Provenance
	// Ignored lists dormant.* global properties that are not policy settings (the OpenMRS
	// hook module keeps its own there too); the service logs them so a misspelling shows.
	Ignored []string
}

// file is the YAML policy block. Pointers tell an absent key from a zero value; durations are
// strings so the error can name the key.
type file struct {
	Enabled                 *bool       `yaml:"enabled"`
	DryRun                  *bool       `yaml:"dry_run"`
	InactiveAfter           *string     `yaml:"inactive_after"`
	WarnBefore              *[]string   `yaml:"warn_before"`
	Demo                    *demoFile   `yaml:"demo"`
	ExemptRoles             *[]string   `yaml:"exempt_roles"`
	NeverTouch              *[]string   `yaml:"never_touch"`
	MaxDeactivationsPerTick *int        `yaml:"max_deactivations_per_tick"`
	MaxDeactivationsPercent *float64    `yaml:"max_deactivations_percent"`
	MaxClockJump            *string     `yaml:"max_clock_jump"`
	FeedSilenceWindow       *string     `yaml:"feed_silence_window"`
	RejectionCoolOff        *string     `yaml:"rejection_cooloff"`
	FailureRetryAfter       *string     `yaml:"failure_retry_after"`
	CustomRules             *[]ruleFile `yaml:"custom_rules"`
}

type demoFile struct {
	UsernamePrefixes *[]string     `yaml:"username_prefixes"`
	FamilyNames      *[]string     `yaml:"family_names"`
	SystemIDPattern  *string       `yaml:"system_id_pattern"`
	Property         *PropertyFile `yaml:"property"`
	MaxAge           *string       `yaml:"max_age"`
}

// PropertyFile is demo.property in the YAML file.
type PropertyFile struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type ruleFile struct {
	Name   string `yaml:"name"`
	Expr   string `yaml:"expr"`
	Action string `yaml:"action"`
	Period string `yaml:"period"`
}

// Load builds a site's effective policy: defaults, then core's users.numberOfDaysToRetire for
// inactive_after, then the site's YAML policy block (nil or empty for none), then the site's
// dormant.* global properties. Every bad value is an error naming its key and value; the
// result is validated.
func Load(block *yaml.Node, globalProperties map[string]string) (Loaded, error) {
	l := Loaded{Policy: DefaultPolicy(), Provenance: Provenance{}}
	for _, k := range Keys {
		l.Provenance[k] = SourceDefault
	}
	var errs []error
	if v := strings.TrimSpace(globalProperties[CoreRetireDays]); v != "" {
		days, err := strconv.ParseFloat(v, 64)
		if err != nil || days <= 0 || math.IsInf(days, 0) || math.IsNaN(days) {
			errs = append(errs, fmt.Errorf("global property %s %q: must be a positive number of days", CoreRetireDays, v))
		} else {
			l.Policy.InactiveAfter = time.Duration(days * float64(Day))
			l.Provenance["inactive_after"] = SourceOpenMRSCore
		}
	}
	if block != nil && block.Kind != 0 {
		errs = append(errs, l.applyFile(block)...)
	}
	names := make([]string, 0, len(globalProperties))
	for name := range globalProperties {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !strings.HasPrefix(name, "dormant.") {
			continue
		}
		key, ok := GlobalProperties[name]
		if !ok {
			l.Ignored = append(l.Ignored, name)
			continue
		}
		v := strings.TrimSpace(globalProperties[name])
		if v == "" {
			// OpenMRS keeps declared but unset properties as empty strings: not a choice.
			continue
		}
		if err := l.applyProperty(key, v); err != nil {
			errs = append(errs, fmt.Errorf("global property %s %q: %w", name, v, err))
			continue
		}
		l.Provenance[key] = SourceOpenMRS
	}
	if err := errors.Join(errs...); err != nil {
		return Loaded{}, err
	}
	l.Policy.WarnBefore = sortedSteps(l.Policy.WarnBefore)
	if err := l.Policy.Validate(); err != nil {
		return Loaded{}, err
	}
	// The custom rules are compiled here too, so a CEL typo is refused when the file is
	// loaded at start-up rather than found by the first tick.
	if _, err := compileCustomRules(l.Policy.CustomRules); err != nil {
		return Loaded{}, err
	}
	return l, nil
}

// LoadYAML is Load for a policy block given as YAML text.
func LoadYAML(block []byte, globalProperties map[string]string) (Loaded, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(block, &doc); err != nil {
		return Loaded{}, fmt.Errorf("policy: %w", err)
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return Load(doc.Content[0], globalProperties)
	}
	return Load(&doc, globalProperties)
}

func (l *Loaded) applyFile(block *yaml.Node) []error {
	// yaml.Node.Decode cannot refuse unknown keys, so the block goes through a strict decoder:
	// a misspelt key must not leave a default silently in force.
	raw, err := yaml.Marshal(block)
	if err != nil {
		return []error{fmt.Errorf("policy: %w", err)}
	}
	var f file
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return []error{fmt.Errorf("policy: %w", err)}
	}
	var errs []error
	p := &l.Policy
	set := func(key string) { l.Provenance[key] = SourceFile }
	dur := func(key string, v *string, into *time.Duration) {
		if v == nil {
			return
		}
		d, err := ParseDuration(*v)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy.%s %q: %w", key, *v, err))
			return
		}
		*into = d
		set(key)
	}
	list := func(key string, v *[]string, into *[]string) {
		if v == nil {
			return
		}
		*into = slices.Clone(*v)
		set(key)
	}
	if f.Enabled != nil {
		p.Enabled = *f.Enabled
		set("enabled")
	}
	if f.DryRun != nil {
		p.DryRun = *f.DryRun
		set("dry_run")
	}
	dur("inactive_after", f.InactiveAfter, &p.InactiveAfter)
	if f.WarnBefore != nil {
		steps, err := parseSteps(*f.WarnBefore)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy.warn_before %q: %w", *f.WarnBefore, err))
		} else {
			p.WarnBefore = steps
			set("warn_before")
		}
	}
	if d := f.Demo; d != nil {
		list("demo.username_prefixes", d.UsernamePrefixes, &p.Demo.UsernamePrefixes)
		list("demo.family_names", d.FamilyNames, &p.Demo.FamilyNames)
		if d.SystemIDPattern != nil {
			p.Demo.SystemIDPattern = *d.SystemIDPattern
			set("demo.system_id_pattern")
		}
		if d.Property != nil {
			p.Demo.Property = PropertyMatch(*d.Property)
			set("demo.property")
		}
		dur("demo.max_age", d.MaxAge, &p.Demo.MaxAge)
	}
	list("exempt_roles", f.ExemptRoles, &p.ExemptRoles)
	list("never_touch", f.NeverTouch, &p.NeverTouch)
	if f.MaxDeactivationsPerTick != nil {
		p.MaxDeactivationsPerTick = *f.MaxDeactivationsPerTick
		set("max_deactivations_per_tick")
	}
	if f.MaxDeactivationsPercent != nil {
		p.MaxDeactivationsPercent = *f.MaxDeactivationsPercent
		set("max_deactivations_percent")
	}
	dur("max_clock_jump", f.MaxClockJump, &p.MaxClockJump)
	dur("feed_silence_window", f.FeedSilenceWindow, &p.FeedSilenceWindow)
	dur("rejection_cooloff", f.RejectionCoolOff, &p.RejectionCoolOff)
	dur("failure_retry_after", f.FailureRetryAfter, &p.FailureRetryAfter)
	if f.CustomRules != nil {
		p.CustomRules = nil
		for i, r := range *f.CustomRules {
			cr := CustomRule{Name: r.Name, Expr: r.Expr, Action: Action(r.Action)}
			if r.Period != "" {
				d, err := ParseDuration(r.Period)
				if err != nil {
					errs = append(errs, fmt.Errorf("policy.custom_rules[%d].period %q: %w", i, r.Period, err))
				}
				cr.Period = d
			}
			p.CustomRules = append(p.CustomRules, cr)
		}
		set("custom_rules")
	}
	return errs
}

func (l *Loaded) applyProperty(key, v string) error {
	p := &l.Policy
	switch key {
	case "enabled", "dry_run":
		b, err := strconv.ParseBool(strings.ToLower(v))
		if err != nil {
			return errors.New("must be true or false")
		}
		if key == "enabled" {
			p.Enabled = b
		} else {
			p.DryRun = b
		}
	case "inactive_after", "demo.max_age", "max_clock_jump", "feed_silence_window", "rejection_cooloff", "failure_retry_after":
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		switch key {
		case "inactive_after":
			p.InactiveAfter = d
		case "demo.max_age":
			p.Demo.MaxAge = d
		case "max_clock_jump":
			p.MaxClockJump = d
		case "rejection_cooloff":
			p.RejectionCoolOff = d
		case "failure_retry_after":
			p.FailureRetryAfter = d
		default:
			p.FeedSilenceWindow = d
		}
	case "warn_before":
		steps, err := parseSteps(splitList(v))
		if err != nil {
			return err
		}
		p.WarnBefore = steps
	case "demo.username_prefixes":
		p.Demo.UsernamePrefixes = splitList(v)
	case "demo.family_names":
		p.Demo.FamilyNames = splitList(v)
	case "demo.system_id_pattern":
		p.Demo.SystemIDPattern = v
	case "demo.property":
		name, value, _ := strings.Cut(v, "=")
		p.Demo.Property = PropertyMatch{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)}
	case "exempt_roles":
		p.ExemptRoles = splitList(v)
	case "never_touch":
		p.NeverTouch = splitList(v)
	case "max_deactivations_per_tick":
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("must be a whole number")
		}
		p.MaxDeactivationsPerTick = n
	case "max_deactivations_percent":
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil || math.IsNaN(f) {
			return errors.New("must be a number")
		}
		p.MaxDeactivationsPercent = f
	default:
		return fmt.Errorf("no policy key %s", key)
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		if s := strings.TrimSpace(part); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func parseSteps(in []string) ([]time.Duration, error) {
	out := make([]time.Duration, 0, len(in))
	for _, s := range in {
		d, err := ParseDuration(s)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

var (
	plainDays = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	withDays  = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)d(.*)$`)
	iso8601   = regexp.MustCompile(`^P(?:([0-9]+)W)?(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?$`)
)

// ParseDuration reads a policy duration. Accepted: a plain number of days ("90", "1.5"), days
// with an optional Go duration after them ("90d", "1d12h"), a Go duration ("36h", "90m"), or
// ISO 8601 with weeks, days, hours, minutes and seconds ("P90D", "PT36H", "P1DT12H"). Months and
// years are refused: their length varies, and a retirement date must not.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, errors.New("empty duration")
	case plainDays.MatchString(s):
		f, _ := strconv.ParseFloat(s, 64)
		return daysOf(f)
	case strings.HasPrefix(s, "P"):
		m := iso8601.FindStringSubmatch(s)
		if m == nil || s == "P" || strings.HasSuffix(s, "T") {
			return 0, errors.New("not an ISO 8601 duration of weeks, days, hours, minutes, seconds (months and years vary in length)")
		}
		var d time.Duration
		for i, unit := range []time.Duration{7 * Day, Day, time.Hour, time.Minute, time.Second} {
			if m[i+1] != "" {
				n, err := strconv.ParseInt(m[i+1], 10, 32)
				if err != nil {
					return 0, fmt.Errorf("too large: %w", err)
				}
				// Checked before multiplying: "P122003W" would otherwise wrap to about 5 days.
				if time.Duration(n) > century/unit || d+time.Duration(n)*unit > century {
					return 0, errors.New("longer than a century")
				}
				d += time.Duration(n) * unit
			}
		}
		return d, nil
	}
	if m := withDays.FindStringSubmatch(s); m != nil {
		f, _ := strconv.ParseFloat(m[1], 64)
		d, err := daysOf(f)
		if err != nil {
			return 0, err
		}
		if m[2] != "" {
			rest, err := time.ParseDuration(m[2])
			if err != nil {
				return 0, errors.New(`not a duration: use days ("90", "90d"), "36h" or ISO 8601 ("P90D")`)
			}
			if rest > century-d {
				return 0, errors.New("longer than a century")
			}
			d += rest
		}
		return d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`not a duration: use days ("90", "90d"), "36h" or ISO 8601 ("P90D")`)
	}
	return d, nil
}

// century bounds every policy duration: far beyond any sensible setting, far below overflow.
const century = 100 * 365 * Day

func daysOf(f float64) (time.Duration, error) {
	if f > 100*365 {
		return 0, errors.New("longer than a century")
	}
	return time.Duration(f * float64(Day)), nil
}

// formatDuration writes d the way the configuration accepts it: "90d", "1d12h0m0s", "36h0m0s".
func formatDuration(d time.Duration) string {
	if d != 0 && d%Day == 0 {
		return fmt.Sprintf("%dd", d/Day)
	}
	if d > Day {
		return fmt.Sprintf("%dd%s", d/Day, d%Day)
	}
	return d.String()
}
