// Package eventstest checks events against the JSON Schemas in schemas/, for the tests of
// every module that emits events: a data change that drifts from the published contract
// fails there, not in a consumer.
package eventstest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dormant-dev/dormant/events"
)

// SchemaDir is the repository's schemas/ folder, found from this file's location so tests
// read the real files and never a copy.
func SchemaDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "schemas"
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "schemas")
}

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	loadErr  error
)

// Schemas compiles the schema of every registered type once and returns them by type.
func Schemas() (map[string]*jsonschema.Schema, error) {
	once.Do(func() { compiled, loadErr = compileAll() })
	return compiled, loadErr
}

func compileAll() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Formats (date-time, uuid, ipv4/6) are annotations by default in 2020-12; the
	// contract means them as rules.
	c.AssertFormat()
	dir := SchemaDir()
	for _, t := range events.Types() {
		f := events.SchemaFile(t)
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, fmt.Errorf("read schema of %s: %w", t, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("parse schema %s: %w", f, err)
		}
		if err := c.AddResource(events.SchemaURI(t), doc); err != nil {
			return nil, fmt.Errorf("add schema %s: %w", f, err)
		}
	}
	out := map[string]*jsonschema.Schema{}
	for _, t := range events.Types() {
		s, err := c.Compile(events.SchemaURI(t))
		if err != nil {
			return nil, fmt.Errorf("compile schema of %s: %w", t, err)
		}
		out[t] = s
	}
	return out, nil
}

// ValidateData checks JSON data against the schema of eventType.
func ValidateData(eventType string, data []byte) error {
	all, err := Schemas()
	if err != nil {
		return err
	}
	s, ok := all[eventType]
	if !ok {
		return fmt.Errorf("no schema for type %q", eventType)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s data is not JSON: %w", eventType, err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("%s data against %s: %w", eventType, events.SchemaFile(eventType), err)
	}
	return nil
}

// AssertMatchesSchema fails the test unless e's data matches its type's schema and e's
// dataschema names that schema.
func AssertMatchesSchema(t testing.TB, e cloudevents.Event) {
	t.Helper()
	if want := events.SchemaURI(e.Type()); e.DataSchema() != want {
		t.Errorf("event %s of type %s: dataschema %q, want %q", e.ID(), e.Type(), e.DataSchema(), want)
	}
	if err := ValidateData(e.Type(), e.Data()); err != nil {
		t.Errorf("event %s: %v", e.ID(), err)
	}
}
