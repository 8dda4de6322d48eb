package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
)

// The command prints the summary; a dry run leaves the auth stream empty, a real run fills it
// with one login per user with a recorded timestamp.
func TestBackfillCommand(t *testing.T) {
	w := newOpsWorld(t, "admin", "Admin123", "")
	at := time.Now().Add(-48 * time.Hour).UnixMilli()
	for i := range 30 {
		w.fake.AddUser(openmrstest.UserSpec{Username: fmt.Sprintf("nurse-%d", i), Properties: map[string]string{openmrs.UserPropertyLastLogin: fmt.Sprint(at)}})
	}
	w.fake.AddUser(openmrstest.UserSpec{Username: "never"})
	stored := func() uint64 {
		t.Helper()
		st, err := w.js.Stream(w.ctx, w.ns.StreamAuth())
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(w.ctx, jetstream.WithSubjectFilter(w.ns.Auth("clinic-a")))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}

	var out bytes.Buffer
	if err := run(w.ctx, []string{"backfill", "--dry-run"}, &out, &out); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out.String())
	}
	// The fake's admin, logged in by the command, has a timestamp too.
	if !strings.Contains(out.String(), "site clinic-a: 32 users read, 31 with a last login timestamp, 31 would be published (dry run: nothing sent), 0 skipped") {
		t.Errorf("dry run printed %q", out.String())
	}
	if n := stored(); n != 0 {
		t.Fatalf("a dry run stored %d events", n)
	}

	out.Reset()
	if err := run(w.ctx, []string{"backfill", "--site", "clinic-a"}, &out, &out); err != nil {
		t.Fatalf("backfill: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "31 published (31 new, 0 already stored)") {
		t.Errorf("backfill printed %q", out.String())
	}
	if n := stored(); n != 31 {
		t.Fatalf("auth stream holds %d events for the site, want 31", n)
	}
}
