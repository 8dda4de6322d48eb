package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
)

// lockedBuffer lets the test read what watch writes from another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestWatchPrintsEventsOfTheSiteAsked(t *testing.T) {
	s, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	t.Setenv("DORMANT_NATS_URL", "")
	t.Setenv("DORMANT_SUBJECT_ROOT", "dormant")

	var out lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"watch", "--url", s.ClientURL(), "--site", "clinic-a", "--count", "2"}, &out, io.Discard)
	}()

	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	publish := func(site, user string) {
		ns := events.DefaultNamespace
		d := &events.LastLoginRecorded{UserUUID: user, Username: "u", LastLoginAt: at}
		ev, err := events.New(events.SourceFor("login-ingest", site), site, d, events.DerivedID(site, user), at)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := events.ToNATS(ns.LastLogin(site), ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
	}
	// Keep publishing until watch has subscribed and seen two of clinic-a's events; the
	// other site's events must never show.
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			got := out.String()
			if strings.Contains(got, "clinic-b") || strings.Count(got, "\n") != 2 ||
				!strings.Contains(got, "dormant.records.clinic-a.lastlogin dormant.lastlogin.recorded user=4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0c") {
				t.Fatalf("watch printed:\n%s", got)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch did not stop after two events; printed:\n%s", out.String())
		}
		publish("clinic-b", "00000000-0000-4000-8000-000000000000")
		publish("clinic-a", "4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0c")
		time.Sleep(50 * time.Millisecond)
	}
}
