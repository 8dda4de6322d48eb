package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestNewSetsTheCommonAttributes(t *testing.T) {
	d := fullSamples()[TypeUserWarned]
	e, err := New(SourceFor("policy", "clinic-a"), "clinic-a", d, "id-1", t0)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"specversion":     {e.SpecVersion(), "1.0"},
		"id":              {e.ID(), "id-1"},
		"source":          {e.Source(), "/dormant/policy/clinic-a"},
		"type":            {e.Type(), TypeUserWarned},
		"subject":         {e.Subject(), uuidA},
		"datacontenttype": {e.DataContentType(), "application/json"},
		"dataschema":      {e.DataSchema(), "https://dormant.dev/schemas/v1/user-warned.json"},
		"site":            {Site(e), "clinic-a"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if !e.Time().Equal(t0) {
		t.Errorf("time = %v", e.Time())
	}
	var back UserWarned
	if err := json.Unmarshal(e.Data(), &back); err != nil || back.UserUUID != uuidA {
		t.Errorf("data %s: %v", e.Data(), err)
	}
}

func TestNewRules(t *testing.T) {
	samples := fullSamples()
	cases := []struct {
		rule  string
		site  string
		d     Data
		id    string
		at    time.Time
		wantE string
	}{
		{"invalid data is never built", "clinic-a", &UserSession{}, "x", t0, "event: is required"},
		{"per-site events need a valid site", "Clinic A", samples[TypeUserWarned], "x", t0, "site"},
		{"the tick takes no site", "clinic-a", samples[TypeClockTick], "x", t0, "no site"},
		{"an id is required", "clinic-a", samples[TypeUserWarned], "", t0, "id"},
		{"a time is required", "clinic-a", samples[TypeUserWarned], "x", time.Time{}, "time"},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			_, err := New("/dormant/test/x", tc.site, tc.d, tc.id, tc.at)
			if err == nil || !strings.Contains(err.Error(), tc.wantE) {
				t.Fatalf("err = %v, want mention of %q", err, tc.wantE)
			}
		})
	}
}

func TestTickHasNoSiteAndNoSubject(t *testing.T) {
	e, err := New(SourceFor("clock", "all"), "", fullSamples()[TypeClockTick], TickID(t0), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Extensions()[ExtSite]; ok || e.Subject() != "" {
		t.Fatalf("tick carries site %v / subject %q", e.Extensions(), e.Subject())
	}
	if e.ID() != "tick-2026-11-23T04:00:00Z" {
		t.Fatalf("id %q", e.ID())
	}
}

func TestFailedSessionHasNoSubject(t *testing.T) {
	d := &UserSession{Event: EventLogin, Status: StatusFailure, Username: "x", OccurredAt: t0, Method: MethodForm}
	e, err := New("https://emr.example.org/openmrs", "clinic-a", d, "f-1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if e.Subject() != "" {
		t.Fatalf("subject %q", e.Subject())
	}
}

func TestDerivedIDIsDeterministicAndUnambiguous(t *testing.T) {
	a := DerivedID("clinic-a", uuidA, "14")
	if a != DerivedID("clinic-a", uuidA, "14") {
		t.Fatal("same parts, different ids")
	}
	if len(a) < 32 {
		t.Fatalf("id %q shorter than 128 bits", a)
	}
	if DerivedID("ab", "c") == DerivedID("a", "bc") {
		t.Fatal("part boundaries are ignored")
	}
}

func TestTickIDIsUTC(t *testing.T) {
	at := time.Date(2026, 1, 2, 5, 0, 0, 0, time.FixedZone("EAT", 3*3600))
	if got := TickID(at); got != "tick-2026-01-02T02:00:00Z" {
		t.Fatalf("got %q", got)
	}
}

func TestTraceparentRoundTrip(t *testing.T) {
	e, _ := New("/x", "clinic-a", fullSamples()[TypeUserWarned], "id", t0)
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	SetTraceparent(&e, tp)
	if Traceparent(e) != tp {
		t.Fatalf("got %q", Traceparent(e))
	}
	SetTraceparent(&e, "")
	if Traceparent(e) != "" {
		t.Fatal("not removed")
	}
}

func TestEveryTypeHasASchemaFile(t *testing.T) {
	for _, typ := range Types() {
		if SchemaFile(typ) == "" || !strings.HasSuffix(SchemaURI(typ), "/"+SchemaFile(typ)) {
			t.Errorf("%s: file %q uri %q", typ, SchemaFile(typ), SchemaURI(typ))
		}
		a, _ := NewData(typ)
		b, _ := NewData(typ)
		if a == b {
			t.Errorf("%s: NewData shares a value between calls", typ)
		}
		if a.EventType() != typ {
			t.Errorf("%s: EventType %s", typ, a.EventType())
		}
	}
}
