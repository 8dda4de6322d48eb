package events_test

import (
	"testing"
	"time"

	"github.com/dormant-dev/dormant/events"
)

// The ingest hot path per authentication event: decode and validate the user session, then
// build and encode the last-login record. BenchmarkRawHeaders is the floor: copying the same
// message's headers and body.

func sessionMsg(b *testing.B) ([]byte, map[string][]string) {
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	ev, err := events.New("http://emr.example.org/openmrs", "clinic-a", &events.UserSession{
		Event: events.EventLogin, Status: events.StatusSuccess, UserUUID: "4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0c",
		Username: "alice", OccurredAt: at, Method: events.MethodForm}, "id-1", at)
	if err != nil {
		b.Fatal(err)
	}
	msg, err := events.ToNATS("dormant.auth.clinic-a", ev)
	if err != nil {
		b.Fatal(err)
	}
	return msg.Data, msg.Header
}

func BenchmarkDecodeUserSession(b *testing.B) {
	data, h := sessionMsg(b)
	b.ReportAllocs()
	for b.Loop() {
		ev, err := events.FromNATS(h, data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := events.Decode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeLastLogin(b *testing.B) {
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		d := &events.LastLoginRecorded{UserUUID: "4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", Username: "alice", LastLoginAt: at}
		ev, err := events.New("/dormant/login-ingest/clinic-a", "clinic-a", d, events.DerivedID("lastlogin", "clinic-a", d.UserUUID), at)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := events.ToNATS("dormant.records.clinic-a.lastlogin", ev); err != nil {
			b.Fatal(err)
		}
	}
}
