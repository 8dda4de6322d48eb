package events_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/events/eventstest"
)

type schemaDoc struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	AllOf      []struct {
		Then struct {
			Required []string `json:"required"`
		} `json:"then"`
	} `json:"allOf"`
	AdditionalProperties *bool `json:"additionalProperties"`
}

func readSchema(t *testing.T, typ string) schemaDoc {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(eventstest.SchemaDir(), events.SchemaFile(typ)))
	if err != nil {
		t.Fatal(err)
	}
	var doc schemaDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", events.SchemaFile(typ), err)
	}
	return doc
}

func jsonNames(d events.Data) []string {
	rt := reflect.TypeOf(d).Elem()
	var out []string
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func sampleJSON(t *testing.T, d events.Data) map[string]any {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// validateJSON runs the Go rules on JSON data as a consumer would see it.
func validateJSON(t *testing.T, typ string, m map[string]any) error {
	t.Helper()
	b, _ := json.Marshal(m)
	d, _ := events.NewData(typ)
	if err := json.Unmarshal(b, d); err != nil {
		return err
	}
	return d.Validate()
}

func TestEveryFullSampleMatchesItsSchema(t *testing.T) {
	for typ, d := range events.FullSamples() {
		b, _ := json.Marshal(d)
		if err := eventstest.ValidateData(typ, b); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func TestSchemaPropertiesEqualStructFields(t *testing.T) {
	for typ, d := range events.FullSamples() {
		doc := readSchema(t, typ)
		props := slices.Sorted(maps.Keys(doc.Properties))
		if fields := jsonNames(d); !slices.Equal(props, fields) {
			t.Errorf("%s: schema properties %v, Go fields %v", typ, props, fields)
		}
		if doc.AdditionalProperties == nil || *doc.AdditionalProperties {
			t.Errorf("%s: schema must set additionalProperties: false", typ)
		}
		if full := sampleJSON(t, d); len(full) != len(props) {
			t.Errorf("%s: the full sample sets %d of %d properties", typ, len(full), len(props))
		}
	}
}

// Removing a property must be refused by the schema exactly when the Go rules refuse it,
// and the schema's required list must be those properties (plus conditional ones).
func TestRequiredPropertiesAgreeWithValidate(t *testing.T) {
	for typ, d := range events.FullSamples() {
		doc := readSchema(t, typ)
		conditional := map[string]bool{}
		for _, a := range doc.AllOf {
			for _, r := range a.Then.Required {
				conditional[r] = true
			}
		}
		var rejected []string
		for _, prop := range jsonNames(d) {
			m := sampleJSON(t, d)
			delete(m, prop)
			b, _ := json.Marshal(m)
			schemaErr := eventstest.ValidateData(typ, b)
			goErr := validateJSON(t, typ, m)
			if (schemaErr == nil) != (goErr == nil) {
				t.Errorf("%s without %s: schema says %v, Validate says %v", typ, prop, schemaErr, goErr)
			}
			if goErr != nil && !conditional[prop] {
				rejected = append(rejected, prop)
			}
		}
		req := slices.Sorted(slices.Values(doc.Required))
		if !slices.Equal(req, rejected) {
			t.Errorf("%s: schema requires %v, Validate rejects the removal of %v", typ, req, rejected)
		}
	}
}

func TestSchemaEncodesTheSessionRules(t *testing.T) {
	cases := []struct {
		rule  string
		data  string
		valid bool
	}{
		{"a failure without user_uuid is valid", `{"event":"login","status":"failure","username":"x","occurred_at":"2026-11-23T04:00:00Z","method":"form"}`, true},
		{"a failure with user_uuid is refused", `{"event":"login","status":"failure","user_uuid":"0d7c1a43-6b0c-4d1c-9a3e-2f1b6c7d8e9f","username":"x","occurred_at":"2026-11-23T04:00:00Z","method":"form"}`, false},
		{"a successful login without user_uuid is refused", `{"event":"login","status":"success","username":"x","occurred_at":"2026-11-23T04:00:00Z","method":"form"}`, false},
		{"a logout without user_uuid is valid", `{"event":"logout","status":"success","username":"x","occurred_at":"2026-11-23T04:00:00Z","method":"form"}`, true},
		{"an OpenMRS REST date is not RFC 3339", `{"event":"logout","status":"success","username":"x","occurred_at":"2026-11-23T04:00:00.000+0000","method":"form"}`, false},
		{"an unknown method is refused", `{"event":"logout","status":"success","username":"x","occurred_at":"2026-11-23T04:00:00Z","method":"saml"}`, false},
		{"a host name is not a client_ip", `{"event":"logout","status":"success","username":"x","occurred_at":"2026-11-23T04:00:00Z","method":"form","client_ip":"example.org"}`, false},
		{"an extra property is refused", `{"event":"logout","status":"success","username":"x","occurred_at":"2026-11-23T04:00:00Z","method":"form","extra":1}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			schemaErr := eventstest.ValidateData(events.TypeUserSession, []byte(tc.data))
			var m map[string]any
			_ = json.Unmarshal([]byte(tc.data), &m)
			goErr := validateJSON(t, events.TypeUserSession, m)
			if (schemaErr == nil) != tc.valid {
				t.Errorf("schema: %v, want valid=%v", schemaErr, tc.valid)
			}
			// Unknown fields are a schema matter only: Go tolerates them for forward compatibility.
			if tc.rule != "an extra property is refused" && (goErr == nil) != tc.valid {
				t.Errorf("Validate: %v, want valid=%v", goErr, tc.valid)
			}
		})
	}
}

func TestBuiltEventsMatchTheirSchemas(t *testing.T) {
	for typ, d := range events.FullSamples() {
		site := "clinic-a"
		if !events.PerSite(typ) {
			site = ""
		}
		e, err := events.New("/dormant/test/clinic-a", site, d, events.DerivedID(typ), time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		eventstest.AssertMatchesSchema(t, e)
	}
}
