package dormant_test

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/dormant-dev/dormant/services/dormant"
	ingestsvc "github.com/dormant-dev/dormant/services/login-ingest/service"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// envKeys walks a configuration struct and returns each environment variable it reads with
// its default ("" for none).
func envKeys(t reflect.Type, out map[string]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("env")
		if tag == "-" {
			continue
		}
		if tag == "" && f.Type.Kind() == reflect.Struct {
			envKeys(f.Type, out)
			continue
		}
		if tag != "" {
			out[strings.Split(tag, ",")[0]] = f.Tag.Get("envDefault")
		}
	}
}

var docRow = regexp.MustCompile("^\\| `(DORMANT_[A-Z0-9_]+)` \\| ([^|]*) \\|")

// TestConfigurationDocMatchesCode keeps docs/configuration.md and the Config structs in step:
// a variable added, renamed or given a new default in code without the doc fails here.
func TestConfigurationDocMatchesCode(t *testing.T) {
	f, err := os.Open("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	documented := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := docRow.FindStringSubmatch(sc.Text()); m != nil {
			documented[m[1]] = m[2]
		}
	}

	inCode := map[string]bool{}
	for name, cfg := range map[string]any{"dormant": dormant.Config{}, "login-ingest": ingestsvc.Config{}, "policy": policysvc.Config{}} {
		keys := map[string]string{}
		envKeys(reflect.TypeOf(cfg), keys)
		for key, def := range keys {
			inCode[key] = true
			cell, ok := documented[key]
			if !ok {
				t.Errorf("%s reads %s, which docs/configuration.md does not list", name, key)
				continue
			}
			want := "`" + def + "`"
			if def == "" {
				want = "(empty"
			}
			if !strings.Contains(cell, want) {
				t.Errorf("%s: %s defaults to %q in code, the doc says %q", name, key, def, strings.TrimSpace(cell))
			}
		}
	}
	var stale []string
	for key := range documented {
		if !inCode[key] {
			stale = append(stale, key)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("docs/configuration.md lists variables no code reads: %s", strings.Join(stale, ", "))
	}
}
