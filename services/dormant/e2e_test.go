package dormant_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/events/eventstest"
	"github.com/dormant-dev/dormant/services/dormant"
	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/platform/testenv"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"

	ingestsvc "github.com/dormant-dev/dormant/services/login-ingest/service"
)

const (
	site  = "clinic-a"
	alice = "a3f1c2d4-0000-4000-8000-000000000001"
	bob   = "a3f1c2d4-0000-4000-8000-000000000002"
)

// TestWalkingSkeleton drives the whole path in both deployment modes with the same code: a
// login POSTed by the OpenMRS hook and one published on NATS are stored as last logins,
// dormant.lastlogin.recorded events follow, and the policy service's own projection shows them.
func TestWalkingSkeleton(t *testing.T) {
	modes := []struct {
		name  string
		setup func(t *testing.T, cfg *dormant.Config)
	}{
		{"embedded NATS and SQLite", func(t *testing.T, cfg *dormant.Config) {
			cfg.NATSListen = "" // in-process only: tests share the machine
		}},
		{"external NATS and PostgreSQL", func(t *testing.T, cfg *dormant.Config) {
			nc, root := testenv.NATS(t)
			nc.Close()
			cfg.NATSURL = testenv.NATSURL()
			cfg.Bus.SubjectRoot = root
			cfg.DB = testenv.Postgres(t)
		}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			cfg := testConfig(t)
			mode.setup(t, &cfg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			app := startApp(t, ctx, cfg)

			ns := cfg.Bus.Namespace()
			t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
			postLogin(t, "http://"+app.Addr()+"/v1/events", alice, "alice", t0)
			publishLogin(t, ctx, app.Infra.JS, ns, bob, "bob", t0.Add(time.Minute))

			for user, want := range map[string]time.Time{alice: t0, bob: t0.Add(time.Minute)} {
				waitFor(t, fmt.Sprintf("policy projection shows %s's login", user), func() bool {
					u, err := app.Policy.Store().User(ctx, site, user)
					return err == nil && u.LastLoginAt != nil && u.LastLoginAt.Equal(want)
				})
				rec, err := app.Ingest.Store().LastLogin(ctx, site, user)
				if err != nil || !rec.LastLoginAt.Equal(want) {
					t.Fatalf("login-ingest store: %+v, %v; want last login %s", rec, err, want)
				}
			}

			recorded := readStream(t, ctx, app.Infra.JS, ns.StreamRecords(), ns.LastLogin(site), 2)
			for _, ev := range recorded {
				if ev.Type() != events.TypeLastLoginRecorded || events.Site(ev) != site {
					t.Fatalf("unexpected record event %s for site %q", ev.Type(), events.Site(ev))
				}
				eventstest.AssertMatchesSchema(t, ev)
			}
		})
	}
}

// startApp starts the all-in-one process and runs it until the test ends, then checks that
// it stopped cleanly.
func startApp(t *testing.T, ctx context.Context, cfg dormant.Config) *dormant.App {
	t.Helper()
	app, err := dormant.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		app.Close()
	})
	return app
}

func testConfig(t *testing.T) dormant.Config {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sites.yaml")
	doc := fmt.Sprintf("sites:\n  - id: %s\n    ingest_token_env: DORMANT_E2E_TOKEN\n", site)
	if err := os.WriteFile(cfgFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DORMANT_E2E_TOKEN", "e2e-secret")
	return dormant.Config{
		Config: infra.Config{
			DataDir: filepath.Join(dir, "data"), ConfigFile: cfgFile, LogLevel: "warn", LogFormat: "json",
			Bus: infra.BusOptions{SubjectRoot: "dormant", StreamReplicas: 1, DuplicateWindow: time.Minute},
		},
		HTTPAddr: "127.0.0.1:0",
		Target:   "all",
		Ingest:   ingestsvc.DefaultOptions(),
		Policy:   policysvc.DefaultOptions(),
	}
}

func loginEvent(t *testing.T, user, username string, at time.Time) cloudevents.Event {
	t.Helper()
	ev, err := events.New("http://openmrs.test/openmrs", site, &events.UserSession{
		Event: events.EventLogin, Status: events.StatusSuccess, UserUUID: user, Username: username,
		OccurredAt: at, Method: events.MethodForm,
	}, events.DerivedID("e2e", user, at.String()), at)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func postLogin(t *testing.T, url, user, username string, at time.Time) {
	t.Helper()
	body, ctype, err := events.ToHTTPBatch([]cloudevents.Event{loginEvent(t, user, username, at)})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer e2e-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("intake answered %s", resp.Status)
	}
}

func publishLogin(t *testing.T, ctx context.Context, js jetstream.JetStream, ns events.Namespace, user, username string, at time.Time) {
	t.Helper()
	msg, err := events.ToNATS(ns.Auth(site), loginEvent(t, user, username, at))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
}

func readStream(t *testing.T, ctx context.Context, js jetstream.JetStream, stream, subject string, want int) []cloudevents.Event {
	t.Helper()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(want, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var out []cloudevents.Event
	for m := range batch.Messages() {
		ev, err := events.FromNATS(m.Headers(), m.Data())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	if len(out) != want {
		t.Fatalf("%d events on %s, want %d", len(out), subject, want)
	}
	return out
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
