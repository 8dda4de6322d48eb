package policy

import (
	"fmt"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// celCostLimit bounds one evaluation of a custom rule, so a runaway comprehension over a
// user's properties cannot stall a tick for the whole site.
const celCostLimit = 100_000

// celVariables are what a custom rule can read; docs/policy.md lists them for admins.
var celVariables = []cel.EnvOption{
	cel.Variable("user.username", cel.StringType),
	cel.Variable("user.system_id", cel.StringType),
	cel.Variable("user.given_name", cel.StringType),
	cel.Variable("user.family_name", cel.StringType),
	cel.Variable("user.email", cel.StringType),
	cel.Variable("user.roles", cel.ListType(cel.StringType)),
	cel.Variable("user.properties", cel.MapType(cel.StringType, cel.StringType)),
	cel.Variable("user.created_at", cel.TimestampType),
	cel.Variable("user.age_days", cel.IntType),
	cel.Variable("user.has_logged_in", cel.BoolType),
	cel.Variable("user.last_login_at", cel.TimestampType),
	cel.Variable("user.last_activity_at", cel.TimestampType),
	cel.Variable("user.days_since_login", cel.IntType),
	cel.Variable("now", cel.TimestampType),
}

type customRule struct {
	CustomRule
	program cel.Program
	steps   []time.Duration // warning steps of a shorten rule, largest first
}

func compileCustomRules(rules []CustomRule) ([]customRule, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	env, err := cel.NewEnv(append(celVariables, ext.Strings())...)
	if err != nil {
		return nil, fmt.Errorf("custom rules environment: %w", err)
	}
	out := make([]customRule, 0, len(rules))
	for i, r := range rules {
		ast, iss := env.Compile(r.Expr)
		if iss.Err() != nil {
			return nil, fmt.Errorf("custom_rules[%d] %s: %w", i, r.Name, iss.Err())
		}
		if ast.OutputType() != cel.BoolType {
			return nil, fmt.Errorf("custom_rules[%d] %s: expression gives %s, must give a bool", i, r.Name, ast.OutputType())
		}
		prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(celCostLimit))
		if err != nil {
			return nil, fmt.Errorf("custom_rules[%d] %s: %w", i, r.Name, err)
		}
		out = append(out, customRule{CustomRule: r, program: prg})
	}
	return out, nil
}

// celUser resolves the rule variables straight from the user, so evaluating a rule allocates
// no map of variables.
type celUser struct {
	u        *User
	activity time.Time
	now      time.Time
}

var epoch = time.Unix(0, 0).UTC()

func (a celUser) ResolveName(name string) (any, bool) {
	u := a.u
	switch name {
	case "user.username":
		return u.Username, true
	case "user.system_id":
		return u.SystemID, true
	case "user.given_name":
		return u.GivenName, true
	case "user.family_name":
		return u.FamilyName, true
	case "user.email":
		return u.Email, true
	case "user.roles":
		if u.Roles == nil {
			return []string{}, true
		}
		return u.Roles, true
	case "user.properties":
		if u.Properties == nil {
			return map[string]string{}, true
		}
		return u.Properties, true
	case "user.created_at":
		return u.CreatedAt, true
	case "user.age_days":
		return wholeDays(a.now.Sub(u.CreatedAt)), true
	case "user.has_logged_in":
		return u.LastLoginAt != nil, true
	case "user.last_login_at":
		if u.LastLoginAt == nil {
			return epoch, true
		}
		return *u.LastLoginAt, true
	case "user.last_activity_at":
		return a.activity, true
	case "user.days_since_login":
		return wholeDays(a.now.Sub(a.activity)), true
	case "now":
		return a.now, true
	}
	return nil, false
}

func (celUser) Parent() interpreter.Activation { return nil }

func wholeDays(d time.Duration) int64 { return int64(d / Day) }

// match runs one custom rule for a user.
func (r customRule) match(act celUser) (bool, error) {
	val, _, err := r.program.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := val.Value().(bool)
	if !ok {
		return false, fmt.Errorf("gave %v, not a bool", val)
	}
	return b, nil
}
