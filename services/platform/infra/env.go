package infra

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// ParseEnv fills cfg, a pointer to a configuration struct with env tags, from the process
// environment. It is env.Parse with errors an operator can act on: a value that does not
// parse is reported by the variable the operator set and the value (withheld for secrets),
// never by the Go field name the library reports.
func ParseEnv(cfg any) error {
	return ParseEnvFrom(cfg, env.ToMap(os.Environ()))
}

// ParseEnvFrom is ParseEnv reading environ instead of the process environment (nil: an empty
// one, never the process's).
func ParseEnvFrom(cfg any, environ map[string]string) error {
	if environ == nil {
		environ = map[string]string{}
	}
	err := env.ParseWithOptions(cfg, env.Options{Environment: environ})
	if err == nil {
		return nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	var out []error
	unparsed := false
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			unparsed = true
			continue
		}
		// The library's other errors (a required variable unset or empty) name the variable.
		out = append(out, e)
	}
	if !unparsed {
		return errors.Join(out...)
	}
	// A ParseError knows the field, not the variable, and field names repeat across nested
	// option structs (every AckWait). Parsing each set variable alone into a fresh struct says
	// which variables the values that did not parse came from.
	params, perr := env.GetFieldParamsWithOptions(cfg, env.Options{Environment: environ})
	found := 0
	if perr == nil {
		typ := reflect.TypeOf(cfg).Elem()
		for _, p := range params {
			v, ok := environ[p.Key]
			if !ok {
				continue
			}
			alone := env.ParseWithOptions(reflect.New(typ).Interface(), env.Options{Environment: map[string]string{p.Key: v}})
			var pe env.ParseError
			if errors.As(alone, &pe) {
				out = append(out, badValue(p.Key, v, pe))
				found++
			}
		}
	}
	if found == 0 {
		// No variable explains it: an envDefault in the code does not parse. That is the
		// program's fault, and the library's message, naming the field, is the right one.
		out = append(out, err)
	}
	return errors.Join(out...)
}

// secretWords mark a variable whose value must not appear in an error (it ends up in logs).
var secretWords = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "SEED", "CREDS", "CREDENTIAL"}

func isSecret(key, value string) bool {
	upper := strings.ToUpper(key)
	for _, w := range secretWords {
		if strings.Contains(upper, w) {
			return true
		}
	}
	// A URL may carry a password in its user info, and the parser's message repeats the URL.
	return strings.Contains(value, "@")
}

func badValue(key, value string, pe env.ParseError) error {
	if isSecret(key, value) {
		return fmt.Errorf("%s: not a valid %s (value withheld: it may hold a secret)", key, kind(pe.Type))
	}
	cause := pe.Err
	// The library prefixes "unable to parse duration: " and the like; the variable and the
	// parser's own message say it better.
	var pv env.ParseValueError
	if errors.As(cause, &pv) && pv.Err != nil {
		cause = pv.Err
	}
	return fmt.Errorf("%s=%q: %w", key, value, cause)
}

// kind names a field's type the way the docs describe values.
func kind(t reflect.Type) string {
	switch {
	case t == nil:
		return "value"
	case t == reflect.TypeFor[time.Duration]():
		return "duration (e.g. 90s, 10m, 36h)"
	case t == reflect.TypeFor[url.URL]():
		return "URL"
	case t.Kind() == reflect.Pointer:
		return kind(t.Elem())
	case t.Kind() == reflect.Slice:
		return "comma-separated list of " + kind(t.Elem())
	case t.Kind() == reflect.Bool:
		return "boolean (true or false)"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	}
	return t.String()
}
