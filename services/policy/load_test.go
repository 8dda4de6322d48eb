package policy_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"90", 90 * policy.Day},
		{"1.5", 36 * time.Hour},
		{"90d", 90 * policy.Day},
		{"1d12h", 36 * time.Hour},
		{"36h", 36 * time.Hour},
		{"90m", 90 * time.Minute},
		{"P90D", 90 * policy.Day},
		{"P2W", 14 * policy.Day},
		{"PT36H", 36 * time.Hour},
		{"P1DT12H", 36 * time.Hour},
		{" 14 ", 14 * policy.Day},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := policy.ParseDuration(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "ninety", "P3M", "P1Y", "P", "PT", "90days", "-5", "1d-3x", "99999999"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			if d, err := policy.ParseDuration(bad); err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want an error", bad, d)
			}
		})
	}
}

func TestLoadWithoutConfigurationGivesTheDefaultsInDryRunAndOff(t *testing.T) {
	l, err := policy.Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Policy.Enabled || !l.Policy.DryRun || l.Policy.InactiveAfter != 90*policy.Day {
		t.Fatalf("defaults: %+v", l.Policy)
	}
	for _, k := range policy.Keys {
		if l.Provenance[k] != policy.SourceDefault {
			t.Fatalf("%s comes from %q, want default", k, l.Provenance[k])
		}
	}
	if len(l.Provenance) != len(policy.Keys) {
		t.Fatalf("provenance has %d keys, Keys lists %d", len(l.Provenance), len(policy.Keys))
	}
}

const fullBlock = `
enabled: true
dry_run: false
inactive_after: 60d
warn_before: [P2W, 3, 1d]
demo:
  username_prefixes: [demo-, train-]
  family_names: [Trainee]
  system_id_pattern: '^T-'
  property: {name: accountKind, value: training}
  max_age: 36h
exempt_roles: [Superuser]
never_touch: [kiosk]
max_deactivations_per_tick: 20
max_deactivations_percent: 2.5
max_clock_jump: 1d
feed_silence_window: 7d
rejection_cooloff: 45d
failure_retry_after: 2d
custom_rules:
  - name: locums
    expr: 'user.properties["contract"] == "locum"'
    action: shorten
    period: 30d
`

func TestLoadReadsEveryKeyOfTheFile(t *testing.T) {
	l, err := policy.LoadYAML([]byte(fullBlock), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := l.Policy
	want := policy.Policy{
		Enabled: true, DryRun: false, InactiveAfter: 60 * policy.Day,
		Demo: policy.Demo{UsernamePrefixes: []string{"demo-", "train-"}, FamilyNames: []string{"Trainee"},
			SystemIDPattern: "^T-", Property: policy.PropertyMatch{Name: "accountKind", Value: "training"}, MaxAge: 36 * time.Hour},
		WarnBefore:  []time.Duration{14 * policy.Day, 3 * policy.Day, policy.Day},
		ExemptRoles: []string{"Superuser"}, NeverTouch: []string{"kiosk"},
		MaxDeactivationsPerTick: 20, MaxDeactivationsPercent: 2.5, MaxClockJump: policy.Day, FeedSilenceWindow: 7 * policy.Day,
		RejectionCoolOff: 45 * policy.Day, FailureRetryAfter: 2 * policy.Day,
		CustomRules: []policy.CustomRule{{Name: "locums", Expr: `user.properties["contract"] == "locum"`, Action: policy.ActionShorten, Period: 30 * policy.Day}},
	}
	if p.Version() != want.Version() {
		t.Fatalf("loaded\n %+v\nwant\n %+v", p, want)
	}
	for _, k := range policy.Keys {
		if l.Provenance[k] != policy.SourceFile {
			t.Fatalf("%s comes from %q, want file", k, l.Provenance[k])
		}
	}
}

func TestGlobalPropertiesOverrideTheFile(t *testing.T) {
	props := map[string]string{
		"dormant.enabled":                 "TRUE",
		"dormant.dryRun":                  "true",
		"dormant.inactiveAfterDays":       "120",
		"dormant.warnBeforeDays":          "1, 14,7",
		"dormant.demoUsernamePrefixes":    "test-, tmp-",
		"dormant.demoFamilyNames":         "Test Account,Dummy",
		"dormant.demoSystemIdPattern":     "^X",
		"dormant.demoProperty":            "kind=demo",
		"dormant.demoMaxAgeDays":          "3",
		"dormant.exemptRoles":             "System Developer, Provider Manager",
		"dormant.neverTouch":              "scanner",
		"dormant.maxDeactivationsPerTick": "10",
		"dormant.maxDeactivationsPercent": "1%",
		"dormant.maxClockJumpDays":        "3",
		"dormant.feedSilenceWindowDays":   "0",
		"dormant.rejectionCooloffDays":    "20",
		"dormant.failureRetryAfterDays":   "3",
		"dormant.ingestUrl":               "https://dormant.example.org/ingest",
		"users.numberOfDaysToRetire":      "30",
	}
	l, err := policy.LoadYAML([]byte(fullBlock), props)
	if err != nil {
		t.Fatal(err)
	}
	p := l.Policy
	if !p.Enabled || !p.DryRun || p.InactiveAfter != 120*policy.Day || p.Demo.MaxAge != 3*policy.Day ||
		!slices.Equal(p.WarnBefore, []time.Duration{14 * policy.Day, 7 * policy.Day, policy.Day}) ||
		!slices.Equal(p.Demo.UsernamePrefixes, []string{"test-", "tmp-"}) || !slices.Equal(p.Demo.FamilyNames, []string{"Test Account", "Dummy"}) ||
		p.Demo.SystemIDPattern != "^X" || p.Demo.Property != (policy.PropertyMatch{Name: "kind", Value: "demo"}) ||
		!slices.Equal(p.ExemptRoles, []string{"System Developer", "Provider Manager"}) || !slices.Equal(p.NeverTouch, []string{"scanner"}) ||
		p.MaxDeactivationsPerTick != 10 || p.MaxDeactivationsPercent != 1 || p.MaxClockJump != 3*policy.Day || p.FeedSilenceWindow != 0 ||
		p.RejectionCoolOff != 20*policy.Day || p.FailureRetryAfter != 3*policy.Day {
		t.Fatalf("effective policy %+v", p)
	}
	for _, k := range policy.Keys {
		want := policy.SourceOpenMRS
		if k == "custom_rules" {
			want = policy.SourceFile
		}
		if l.Provenance[k] != want {
			t.Fatalf("%s comes from %q, want %q", k, l.Provenance[k], want)
		}
	}
	if !slices.Equal(l.Ignored, []string{"dormant.ingestUrl"}) {
		t.Fatalf("ignored %v, want the hook's own property listed", l.Ignored)
	}
}

func TestEveryGlobalPropertyNamesAPolicyKey(t *testing.T) {
	for name, key := range policy.GlobalProperties {
		if !slices.Contains(policy.Keys, key) {
			t.Errorf("%s sets %q, which is not a policy key", name, key)
		}
	}
}

func TestCoreRetireDaysIsTheFallbackForInactiveAfter(t *testing.T) {
	tests := []struct {
		name   string
		block  string
		props  map[string]string
		want   time.Duration
		source policy.Source
	}{
		{"core's setting is taken when nothing else sets inactive_after", "", map[string]string{"users.numberOfDaysToRetire": "45"}, 45 * policy.Day, policy.SourceOpenMRSCore},
		{"core's setting may be fractional days, as core reads it", "", map[string]string{"users.numberOfDaysToRetire": "30.5"}, 30*policy.Day + 12*time.Hour, policy.SourceOpenMRSCore},
		{"core's empty setting is off", "", map[string]string{"users.numberOfDaysToRetire": ""}, 90 * policy.Day, policy.SourceDefault},
		{"the file wins over core", "inactive_after: 60", map[string]string{"users.numberOfDaysToRetire": "45"}, 60 * policy.Day, policy.SourceFile},
		{"dormant's own property wins over core", "", map[string]string{"users.numberOfDaysToRetire": "45", "dormant.inactiveAfterDays": "100"}, 100 * policy.Day, policy.SourceOpenMRS},
		{"an empty dormant property leaves the file's value", "inactive_after: 60", map[string]string{"dormant.inactiveAfterDays": " "}, 60 * policy.Day, policy.SourceFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := policy.LoadYAML([]byte(tc.block), tc.props)
			if err != nil {
				t.Fatal(err)
			}
			if l.Policy.InactiveAfter != tc.want || l.Provenance["inactive_after"] != tc.source {
				t.Fatalf("inactive_after %v from %s, want %v from %s", l.Policy.InactiveAfter, l.Provenance["inactive_after"], tc.want, tc.source)
			}
		})
	}
}

func TestLoadNamesTheBadKeyAndValue(t *testing.T) {
	tests := []struct {
		name  string
		block string
		props map[string]string
		want  []string
	}{
		{"a misspelt key is refused, not ignored", "inactive_afer: 30", nil, []string{"inactive_afer"}},
		{"a bad duration names key and value", "inactive_after: soon", nil, []string{"inactive_after", `"soon"`}},
		{"a bad warning step names key and value", "warn_before: [14, often]", nil, []string{"warn_before", "often"}},
		{"a bad custom rule period names the rule", "custom_rules: [{name: a, expr: 'true', action: shorten, period: x}]", nil, []string{"custom_rules[0].period", `"x"`}},
		{"an unknown action is refused", "custom_rules: [{name: a, expr: 'true', action: delete}]", nil, []string{"custom_rules[0].action", `"delete"`}},
		{"a bad boolean property names property and value", "", map[string]string{"dormant.enabled": "yes please"}, []string{"dormant.enabled", `"yes please"`}},
		{"a bad number property names property and value", "", map[string]string{"dormant.maxDeactivationsPerTick": "ten"}, []string{"dormant.maxDeactivationsPerTick", `"ten"`}},
		{"a bad day count names property and value", "", map[string]string{"dormant.inactiveAfterDays": "P3M"}, []string{"dormant.inactiveAfterDays", `"P3M"`}},
		{"a bad core setting names it", "", map[string]string{"users.numberOfDaysToRetire": "-1"}, []string{"users.numberOfDaysToRetire", `"-1"`}},
		{"every problem is reported at once", "", map[string]string{"dormant.enabled": "x", "dormant.dryRun": "y"}, []string{"dormant.enabled", "dormant.dryRun"}},
		{"an invalid result is refused naming the field", "", map[string]string{"dormant.demoSystemIdPattern": "("}, []string{"demo.system_id_pattern"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.LoadYAML([]byte(tc.block), tc.props)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*policy.Policy)
		want string
	}{
		{"inactive_after must be positive", func(p *policy.Policy) { p.InactiveAfter = 0 }, "inactive_after"},
		{"demo.max_age must be positive", func(p *policy.Policy) { p.Demo.MaxAge = -policy.Day }, "demo.max_age"},
		{"nobody is retired unwarned: warn_before cannot be empty", func(p *policy.Policy) { p.WarnBefore = nil }, "warn_before"},
		{"warning steps must be positive", func(p *policy.Policy) { p.WarnBefore = []time.Duration{0} }, "warn_before"},
		{"warning steps cannot repeat", func(p *policy.Policy) { p.WarnBefore = []time.Duration{policy.Day, policy.Day} }, "listed twice"},
		{"a rule must leave room for a warning", func(p *policy.Policy) { p.Demo.MaxAge = 12 * time.Hour }, "demo.max_age"},
		{"an empty demo prefix would match everybody", func(p *policy.Policy) { p.Demo.UsernamePrefixes = []string{""} }, "demo.username_prefixes"},
		{"a demo property value needs a name", func(p *policy.Policy) { p.Demo.Property.Value = "x" }, "demo.property"},
		{"the batch limit cannot be negative", func(p *policy.Policy) { p.MaxDeactivationsPerTick = -1 }, "max_deactivations_per_tick"},
		{"the percent limit is at most 100", func(p *policy.Policy) { p.MaxDeactivationsPercent = 150 }, "max_deactivations_percent"},
		{"the clock jump must be positive", func(p *policy.Policy) { p.MaxClockJump = 0 }, "max_clock_jump"},
		{"the feed window cannot be negative", func(p *policy.Policy) { p.FeedSilenceWindow = -1 }, "feed_silence_window"},
		{"a rejection holds at least a day", func(p *policy.Policy) { p.RejectionCoolOff = 23 * time.Hour }, "rejection_cooloff"},
		{"a rejection cool-off cannot be off", func(p *policy.Policy) { p.RejectionCoolOff = 0 }, "rejection_cooloff"},
		{"a failed deactivation waits at least a day", func(p *policy.Policy) { p.FailureRetryAfter = 23 * time.Hour }, "failure_retry_after"},
		{"a failure retry cannot be off", func(p *policy.Policy) { p.FailureRetryAfter = 0 }, "failure_retry_after"},
		{"a custom rule needs a proper name", func(p *policy.Policy) {
			p.CustomRules = []policy.CustomRule{{Name: "Bad Name", Expr: "true", Action: policy.ActionExempt}}
		}, "custom_rules[0].name"},
		{"a custom rule cannot take a built-in name", func(p *policy.Policy) {
			p.CustomRules = []policy.CustomRule{{Name: "inactive_after", Expr: "true", Action: policy.ActionExempt}}
		}, "reserved"},
		{"custom rule names are unique", func(p *policy.Policy) {
			p.CustomRules = []policy.CustomRule{{Name: "a", Expr: "true", Action: policy.ActionExempt}, {Name: "a", Expr: "true", Action: policy.ActionExempt}}
		}, "custom_rules[1].name"},
		{"a shorten rule must shorten", func(p *policy.Policy) {
			p.CustomRules = []policy.CustomRule{{Name: "a", Expr: "true", Action: policy.ActionShorten, Period: 100 * policy.Day}}
		}, "custom_rules[0].period"},
		{"an exempt rule has no period", func(p *policy.Policy) {
			p.CustomRules = []policy.CustomRule{{Name: "a", Expr: "true", Action: policy.ActionExempt, Period: policy.Day}}
		}, "custom_rules[0].period"},
		{"a custom rule needs an expression", func(p *policy.Policy) {
			p.CustomRules = []policy.CustomRule{{Name: "a", Action: policy.ActionExempt}}
		}, "custom_rules[0].expr"},
	}
	if err := policy.DefaultPolicy().Validate(); err != nil {
		t.Fatalf("the defaults are invalid: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := policy.DefaultPolicy()
			tc.mod(&p)
			if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestVersionIsAStableFingerprint(t *testing.T) {
	a := policy.DefaultPolicy()
	b := policy.DefaultPolicy()
	b.ExemptRoles = []string{"System Developer", "System Developer"}
	b.WarnBefore = []time.Duration{policy.Day, 14 * policy.Day, 7 * policy.Day}
	if a.Version() != b.Version() {
		t.Fatal("equal policies written differently have different versions")
	}
	if a.Version() != policy.DefaultPolicy().Version() || len(a.Version()) != 16 {
		t.Fatalf("version %q is not stable", a.Version())
	}
	c := policy.DefaultPolicy()
	c.InactiveAfter = 91 * policy.Day
	d := policy.DefaultPolicy()
	d.DryRun = false
	if a.Version() == c.Version() || a.Version() == d.Version() {
		t.Fatal("a changed policy keeps its version")
	}
}

// The admin documentation must list every key and global property (skipped where the module
// is built alone, without the repository's docs/).
func TestTheAdminDocumentationListsEveryKnob(t *testing.T) {
	raw, err := os.ReadFile("../../docs/policy.md")
	if os.IsNotExist(err) {
		t.Skip("docs/policy.md is not beside this module")
	}
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	names := slices.Clone(policy.Keys)
	for name := range policy.GlobalProperties {
		names = append(names, name)
	}
	names = append(names, policy.CoreRetireDays, "user.username", "user.system_id", "user.given_name", "user.family_name",
		"user.email", "user.roles", "user.properties", "user.created_at", "user.age_days", "user.has_logged_in",
		"user.last_login_at", "user.last_activity_at", "user.days_since_login")
	for _, n := range names {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("docs/policy.md does not mention `%s`", n)
		}
	}
}
