package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sdkNATS is the SDK path FastNATS must equal: New, then ToNATS.
func sdkNATS(subject, source, site string, d Data, id string, at time.Time) (subj string, h map[string][]string, data []byte, err error) {
	e, err := New(source, site, d, id, at)
	if err != nil {
		return "", nil, nil, err
	}
	m, err := ToNATS(subject, e)
	if err != nil {
		return "", nil, nil, err
	}
	return m.Subject, m.Header, m.Data, nil
}

// assertSameNATS fails unless FastNATS accepted and wrote what the SDK path writes.
func assertSameNATS(t *testing.T, source, site string, d Data, id string, at time.Time) {
	t.Helper()
	subject := "dormant.records." + site + ".x"
	wantSubj, wantH, wantData, err := sdkNATS(subject, source, site, d, id, at)
	if err != nil {
		t.Fatalf("the SDK path refuses the case itself: %v", err)
	}
	got, ok := FastNATS(subject, source, site, d, id, at)
	if !ok {
		t.Fatal("the fast path left a common event to the SDK")
	}
	if got.Subject != wantSubj || !reflect.DeepEqual(map[string][]string(got.Header), wantH) || !bytes.Equal(got.Data, wantData) {
		t.Fatalf("fast path wrote\n%s %v\n%s\nthe SDK path\n%s %v\n%s", got.Subject, got.Header, got.Data, wantSubj, wantH, wantData)
	}
}

func TestFastNATSEqualsTheSDK(t *testing.T) {
	nanos := time.Date(2026, 11, 23, 4, 0, 0, 123456789, time.UTC)
	micros := time.Date(2026, 11, 23, 4, 0, 0, 120000000, time.UTC)
	cases := []struct {
		name string
		d    Data
		at   time.Time
	}{
		{"a first login (no previous)", &LastLoginRecorded{UserUUID: uuidA, Username: "nurse.jane", LastLoginAt: t0}, t0},
		{"every field", &LastLoginRecorded{UserUUID: uuidA, Username: "nurse.jane", LastLoginAt: t0, PreviousLoginAt: &prev, LocationUUID: uuidB}, t0},
		{"no username or location", &LastLoginRecorded{UserUUID: uuidA, LastLoginAt: nanos, PreviousLoginAt: &micros}, nanos},
		{"upper-case uuids", &LastLoginRecorded{UserUUID: strings.ToUpper(uuidA), LastLoginAt: t0}, t0},
		{"a username JSON writes as it is", &LastLoginRecorded{UserUUID: uuidA, Username: "a.b-c_d@e+f 'g'", LastLoginAt: t0}, t0},
		{"the year 1", &LastLoginRecorded{UserUUID: uuidA, LastLoginAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}, t0},
		{"the year 9999", &LastLoginRecorded{UserUUID: uuidA, LastLoginAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}, t0},
		{"a time argument in another zone", &LastLoginRecorded{UserUUID: uuidA, LastLoginAt: t0}, t0.In(time.FixedZone("EAT", 3*3600))},
		{"a failed login", &LoginFailed{Username: "nurse.jane", OccurredAt: t0, Method: MethodBasic}, t0},
		{"a failed login, every field", &LoginFailed{Username: "nurse.jane", UserUUID: uuidA, OccurredAt: nanos, Method: MethodForm, ClientIP: "2001:db8::1"}, nanos},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, id := range []string{DerivedID("lastlogin", "clinic-a", uuidA), "id with inner spaces", "x"} {
				assertSameNATS(t, SourceFor("login-ingest", "clinic-a"), "clinic-a", c.d, id, c.at)
			}
		})
	}
}

// TestFastNATSLeavesTheRestToTheSDK: what the fast path does not write goes to the SDK path,
// which refuses it with the error it always gave, or writes the rarer shapes.
func TestFastNATSLeavesTheRestToTheSDK(t *testing.T) {
	eat := time.FixedZone("EAT", 3*3600)
	good := func() *LastLoginRecorded {
		return &LastLoginRecorded{UserUUID: uuidA, Username: "nurse.jane", LastLoginAt: t0}
	}
	with := func(f func(*LastLoginRecorded)) *LastLoginRecorded { d := good(); f(d); return d }
	src := SourceFor("login-ingest", "clinic-a")
	cases := []struct {
		name, source, site, id string
		d                      Data
		at                     time.Time
		sdkErr                 bool // whether the SDK path refuses it too
	}{
		{"another type", src, "clinic-a", "x", &UserWarned{UserUUID: uuidA, Rule: "r", DeactivateOn: t0, DaysLeft: 1, PolicyVersion: "v"}, t0, false},
		{"invalid data", src, "clinic-a", "x", with(func(d *LastLoginRecorded) { d.UserUUID = "nope" }), t0, true},
		{"a previous login after the last", src, "clinic-a", "x", with(func(d *LastLoginRecorded) { p := t0.Add(time.Hour); d.PreviousLoginAt = &p }), t0, true},
		{"a bad site", src, "Clinic_A", "x", good(), t0, true},
		{"no id", src, "clinic-a", "", good(), t0, true},
		{"an id the SDK trims", src, "clinic-a", " x ", good(), t0, false},
		{"an id with a control character", src, "clinic-a", "x\ty", good(), t0, false},
		{"no source", "", "clinic-a", "x", good(), t0, true},
		{"a source url.Parse refuses", "%zz", "clinic-a", "x", good(), t0, true},
		{"an absolute source", "http://emr.example.org/openmrs", "clinic-a", "x", good(), t0, false},
		{"no time", src, "clinic-a", "x", good(), time.Time{}, true},
		{"a data time outside UTC", src, "clinic-a", "x", with(func(d *LastLoginRecorded) { d.LastLoginAt = t0.In(eat) }), t0, false},
		{"a data time in the Local zone", src, "clinic-a", "x", with(func(d *LastLoginRecorded) { d.LastLoginAt = t0.Local() }), t0, false},
		{"the year 10000", src, "clinic-a", "x", with(func(d *LastLoginRecorded) { d.LastLoginAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), t0, true},
		{"a username JSON escapes (HTML)", src, "clinic-a", "x", with(func(d *LastLoginRecorded) { d.Username = "a<b>&c" }), t0, false},
		{"a username outside ASCII", src, "clinic-a", "x", with(func(d *LastLoginRecorded) { d.Username = "zoë" }), t0, false},
		{"a username with a quote", src, "clinic-a", "x", with(func(d *LastLoginRecorded) { d.Username = `o"neil` }), t0, false},
		{"a failed login with a bad method", src, "clinic-a", "x", &LoginFailed{Username: "n", OccurredAt: t0, Method: "pigeon"}, t0, true},
		{"a failed login from outside UTC", src, "clinic-a", "x", &LoginFailed{Username: "n", OccurredAt: t0.In(eat), Method: MethodForm}, t0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := FastNATS("s", c.source, c.site, c.d, c.id, c.at); ok {
				t.Fatal("the fast path wrote an event it must leave to the SDK")
			}
			if _, _, _, err := sdkNATS("s", c.source, c.site, c.d, c.id, c.at); (err != nil) != c.sdkErr {
				t.Fatalf("the SDK path answers %v, want an error: %v", err, c.sdkErr)
			}
		})
	}
}

// FuzzFastNATS is the differential test of the record encoder: whatever the fast path
// writes, the SDK path writes byte for byte, headers included.
//
//	go test -run='^$' -fuzz=FuzzFastNATS -fuzztime=60s ./events/
func FuzzFastNATS(f *testing.F) {
	f.Fuzz(func(t *testing.T, failed bool, user, name, loc, id, site string, last, previous int64, hasPrevious bool, zone int) {
		at := time.Unix(0, last).UTC()
		if zone != 0 {
			at = at.In(time.FixedZone("z", zone%(24*3600)))
		}
		var d Data
		if failed {
			d = &LoginFailed{Username: name, UserUUID: user, OccurredAt: at, Method: loc, ClientIP: id}
		} else {
			r := &LastLoginRecorded{UserUUID: user, Username: name, LastLoginAt: at, LocationUUID: loc}
			if hasPrevious {
				p := time.Unix(0, previous).UTC()
				r.PreviousLoginAt = &p
			}
			d = r
		}
		source := SourceFor("login-ingest", site)
		got, ok := FastNATS("subj", source, site, d, id, at)
		if !ok {
			return
		}
		subj, h, data, err := sdkNATS("subj", source, site, d, id, at)
		if err != nil {
			t.Fatalf("the fast path wrote what the SDK path refuses (%v): %v %s", err, got.Header, got.Data)
		}
		if got.Subject != subj || !reflect.DeepEqual(map[string][]string(got.Header), h) || !bytes.Equal(got.Data, data) {
			t.Fatalf("fast path wrote\n%v\n%s\nthe SDK path\n%v\n%s", got.Header, got.Data, h, data)
		}
	})
}

// TestDerivedIDBytes keeps DerivedID hashing what its first version hashed with fmt, so ids
// of events already published stay the same (and JetStream keeps dropping replays).
func TestDerivedIDBytes(t *testing.T) {
	reference := func(parts ...string) string {
		h := sha256.New()
		for _, p := range parts {
			fmt.Fprintf(h, "%d:%s;", len(p), p)
		}
		return hex.EncodeToString(h.Sum(nil)[:16])
	}
	cases := [][]string{
		{},
		{""},
		{"", ""},
		{"lastlogin", "clinic-a", uuidA, "2026-11-23T04:00:00.123456789Z"},
		{"ab", "c"},
		{"a", "bc"},
		{"zoë", "\x00\xff"},
		{strings.Repeat("x", 100_000)},
	}
	for _, parts := range cases {
		if got, want := DerivedID(parts...), reference(parts...); got != want {
			t.Errorf("DerivedID(%q) = %s, want %s", parts, got, want)
		}
	}
	// One id as the fmt version computed it, so a change of the reference is seen too.
	if got, want := DerivedID("lastlogin", "clinic-a", uuidA), "040e3de5b5a19a6b67520639f6fb0741"; got != want {
		t.Errorf("DerivedID = %s, want %s", got, want)
	}
}
