package deploytest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repo is the repository root, two levels above this module.
func repo(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "go.work")); err != nil {
		t.Fatalf("repository root %s: %v", abs, err)
	}
	return abs
}

// mutate writes src's text with each old→new replacement applied to a file in dir and returns
// its path; a replacement that does not apply fails the test, so a fixture cannot silently
// become the original.
func mutate(t *testing.T, src, dir, name string, replacements ...string) string {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for i := 0; i+1 < len(replacements); i += 2 {
		if !strings.Contains(text, replacements[i]) {
			t.Fatalf("fixture: %q is not in %s", replacements[i], src)
		}
		text = strings.ReplaceAll(text, replacements[i], replacements[i+1])
	}
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantErr fails unless err is non-nil and contains want.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error does not contain %q:\n%v", want, err)
	}
}

// compactJSON writes the JSON file at path without indentation to a temporary file.
func compactJSON(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "compact.json")
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
