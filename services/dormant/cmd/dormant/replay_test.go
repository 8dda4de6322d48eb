package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/events"
	ingestsvc "github.com/dormant-dev/dormant/services/login-ingest/service"
	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

func TestReplayCommandFlags(t *testing.T) {
	for _, tc := range []struct {
		rule    string
		args    []string
		wantErr string
	}{
		{"a start is required", []string{"replay"}, "exactly one of"},
		{"only one start may be given", []string{"replay", "--from-seq", "1", "--from-time", "2026-11-01T00:00:00Z"}, "exactly one of"},
		{"a start time is RFC 3339", []string{"replay", "--from-time", "yesterday"}, "--from-time"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			err := run(context.Background(), tc.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestReplayCommandStoresTheStreamWithProgress runs `dormant replay` against the machine's
// NATS and PostgreSQL, configured through the environment as an operator would.
func TestReplayCommandStoresTheStreamWithProgress(t *testing.T) {
	nc, root := testenv.NATS(t)
	dsn := testenv.Postgres(t)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bus := infra.BusOptions{SubjectRoot: root, StreamReplicas: 1, DuplicateWindow: time.Minute}
	if err := infra.Provision(ctx, js, bus); err != nil {
		t.Fatal(err)
	}
	ns := bus.Namespace()
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	users := []string{"a3f1c2d4-0000-4000-8000-000000000001", "a3f1c2d4-0000-4000-8000-000000000002"}
	for i, u := range users {
		ev, err := events.New("http://openmrs.test", "clinic-a", &events.UserSession{Event: events.EventLogin, Status: events.StatusSuccess,
			UserUUID: u, Username: fmt.Sprint("user", i), OccurredAt: at, Method: events.MethodForm}, fmt.Sprint("replay-cmd-", i), at)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := events.ToNATS(ns.Auth("clinic-a"), ev)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sites.yaml")
	if err := os.WriteFile(cfgFile, []byte("sites:\n  - id: clinic-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"DORMANT_NATS_URL": testenv.NATSURL(), "DORMANT_SUBJECT_ROOT": root, "DORMANT_DB": dsn,
		"DORMANT_CONFIG": cfgFile, "DORMANT_DATA_DIR": dir, "DORMANT_DUPLICATE_WINDOW": "1m"} {
		t.Setenv(k, v)
	}

	var out, progress bytes.Buffer
	if err := run(ctx, []string{"replay", "--from-seq", "1", "--site", "clinic-a"}, &out, &progress); err != nil {
		t.Fatalf("replay: %v (stderr %q)", err, progress.String())
	}
	if !strings.Contains(out.String(), "replayed 2 events: 2 logins (2 last-login records published)") {
		t.Errorf("final count %q", out.String())
	}
	if !strings.Contains(progress.String(), "2 done, 0 pending") {
		t.Errorf("progress bar %q does not show the end", progress.String())
	}
	db, err := sqldb.Open(ctx, dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := ingestsvc.OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if rec, err := store.LastLogin(ctx, "clinic-a", u); err != nil || !rec.LastLoginAt.Equal(at) {
			t.Errorf("after replay %s has %+v, %v", u, rec, err)
		}
	}
}
