package notifier

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
)

//go:embed templates/*.tmpl
var embedded embed.FS

// Kinds of notification, each with a <kind>.txt.tmpl (defining "subject" and "text") and a
// <kind>.html.tmpl (the HTML body).
const (
	KindWarning     = "warning"
	KindDeactivated = "deactivated"
	KindHeld        = "held"
	KindFailed      = "failed"
	KindDigest      = "digest"
)

var kinds = []string{KindWarning, KindDeactivated, KindHeld, KindFailed, KindDigest, KindReactivationRequest}

// Templates render the notifications of one site.
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// LoadTemplates parses the embedded templates, each replaced by the file of the same name in
// dir when dir has one (dir "" uses the embedded ones only). A site overrides only what it
// wants to word differently; every template is parsed at start-up, so a broken override
// stops the process instead of a notification.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, k := range kinds {
		txt, err := read(dir, k+".txt.tmpl")
		if err != nil {
			return nil, err
		}
		tt, err := texttemplate.New(k).Option("missingkey=error").Parse(txt)
		if err != nil {
			return nil, fmt.Errorf("template %s.txt.tmpl: %w", k, err)
		}
		for _, name := range []string{"subject", "text"} {
			if tt.Lookup(name) == nil {
				return nil, fmt.Errorf("template %s.txt.tmpl: must define %q", k, name)
			}
		}
		t.text[k] = tt
		h, err := read(dir, k+".html.tmpl")
		if err != nil {
			return nil, err
		}
		if t.html[k], err = htmltemplate.New(k).Option("missingkey=error").Parse(h); err != nil {
			return nil, fmt.Errorf("template %s.html.tmpl: %w", k, err)
		}
	}
	return t, nil
}

func read(dir, name string) (string, error) {
	if dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			return string(b), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("template override: %w", err)
		}
	}
	b, err := embedded.ReadFile("templates/" + name)
	return string(b), err
}

// Render gives the subject and both bodies of a notification.
func (t *Templates) Render(kind string, data any) (subject, text, html string, err error) {
	tt, ok := t.text[kind]
	if !ok {
		return "", "", "", fmt.Errorf("no template %q", kind)
	}
	var s, b, h bytes.Buffer
	if err := tt.ExecuteTemplate(&s, "subject", data); err != nil {
		return "", "", "", fmt.Errorf("render %s subject: %w", kind, err)
	}
	if err := tt.ExecuteTemplate(&b, "text", data); err != nil {
		return "", "", "", fmt.Errorf("render %s text: %w", kind, err)
	}
	if err := t.html[kind].Execute(&h, data); err != nil {
		return "", "", "", fmt.Errorf("render %s html: %w", kind, err)
	}
	// A subject is one header line: a template's stray newline must not end the headers.
	return strings.Join(strings.Fields(s.String()), " "), b.String(), h.String(), nil
}
