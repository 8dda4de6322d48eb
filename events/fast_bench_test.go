package events_test

import (
	"testing"
	"time"

	"github.com/dormant-dev/dormant/events"
)

// The same two steps as BenchmarkDecodeUserSession and BenchmarkEncodeLastLogin, on the
// paths login-ingest takes for them.

func BenchmarkFastUserSession(b *testing.B) {
	data, h := sessionMsg(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := events.FastUserSession(h, data); !ok {
			b.Fatal("the fast path refused the benchmark's message")
		}
	}
}

func BenchmarkFastNATSLastLogin(b *testing.B) {
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		d := &events.LastLoginRecorded{UserUUID: "4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", Username: "alice", LastLoginAt: at}
		if _, ok := events.FastNATS("dormant.records.clinic-a.lastlogin", "/dormant/login-ingest/clinic-a", "clinic-a", d,
			events.DerivedID("lastlogin", "clinic-a", d.UserUUID), at); !ok {
			b.Fatal("the fast path refused the benchmark's record")
		}
	}
}
