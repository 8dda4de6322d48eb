package consumer_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/deploy/examples/consumer"
	"github.com/dormant-dev/dormant/deploy/examples/keycloak"
	"github.com/dormant-dev/dormant/deploy/examples/keycloak/keycloaktest"
	"github.com/dormant-dev/dormant/deploy/examples/webhook"
	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

type bus struct {
	t  *testing.T
	js jetstream.JetStream
	ns events.Namespace
}

func newBus(t *testing.T) *bus {
	t.Helper()
	nc, root := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := infra.Provision(context.Background(), js, infra.BusOptions{SubjectRoot: root, StreamReplicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return &bus{t: t, js: js, ns: events.Namespace{Root: root}}
}

// deactivated publishes a dormant.user.deactivated as the actuator does (binary mode).
func (b *bus) deactivated(site, decision, username string) {
	b.t.Helper()
	ev, err := events.New(events.SourceFor("actuator", site), site,
		&events.UserDeactivated{DecisionID: decision, UserUUID: "4f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", Username: username, Reason: "no login for 90 days", RetiredAt: time.Now().UTC()},
		events.DerivedID("deactivated", decision), time.Now().UTC())
	if err != nil {
		b.t.Fatal(err)
	}
	msg, err := events.ToNATS(b.ns.Deactivated(site), ev)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.js.PublishMsg(context.Background(), msg); err != nil {
		b.t.Fatal(err)
	}
}

// garbage publishes something on the subject that is not a CloudEvent.
func (b *bus) garbage(site string) {
	b.t.Helper()
	if _, err := b.js.PublishMsg(context.Background(), &nats.Msg{Subject: b.ns.Deactivated(site), Data: []byte("not an event")}); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bus) run(durable string, h consumer.Handler) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- consumer.Run(ctx, consumer.Config{JS: b.js, Root: b.ns.Root, Durable: durable, Backoff: 50 * time.Millisecond, MaxAttempts: 3, Log: slog.New(slog.DiscardHandler)}, h)
	}()
	b.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.t.Error(err)
		}
	})
}

// settled waits until the consumer has acknowledged (or let go) everything.
func (b *bus) settled(durable string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := b.js.Consumer(context.Background(), b.ns.StreamActions(), durable)
		if err == nil {
			info, err := c.Info(context.Background())
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("consumer %s did not settle", durable)
}

func TestKeycloakDisablerOverNATS(t *testing.T) {
	b := newBus(t)
	kc := keycloaktest.New("openmrs", "dormant", "s3cret")
	t.Cleanup(kc.Close)
	nurse := kc.AddUser(keycloaktest.User{Username: "nurse1", FirstName: "Grace", Email: "grace@example.org", Enabled: true})
	clerk := kc.AddUser(keycloaktest.User{Username: "clerk", Enabled: true})
	c, err := keycloak.New(keycloak.Config{BaseURL: kc.URL(), Realm: "openmrs", ClientID: "dormant", ClientSecret: "s3cret", Backoff: time.Millisecond, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	kc.FailNext(503, 503, 503, 503) // Keycloak down for the first delivery: redelivered later
	b.deactivated("clinic-a", "d1", "nurse1")
	b.garbage("clinic-a")                     // let go, does not block the rest
	b.deactivated("clinic-a", "d2", "nobody") // not in Keycloak: acknowledged
	b.deactivated("clinic-b", "d3", "Clerk")  // another site, same realm
	b.deactivated("clinic-a", "d1", "nurse1") // a republished event: dropped by JetStream
	b.deactivated("clinic-a", "d4", "nurse1") // a second retirement of the same user: idempotent
	b.run("keycloak-disabler", keycloak.Disabler(c, slog.New(slog.DiscardHandler)))
	b.settled("keycloak-disabler")

	for _, id := range []string{nurse, clerk} {
		u, _ := kc.User(id)
		if u.Enabled {
			t.Errorf("%s is still enabled", u.Username)
		}
	}
	if u, _ := kc.User(nurse); u.FirstName != "Grace" || u.Email != "grace@example.org" {
		t.Errorf("the profile was lost: %+v", u)
	}
	if kc.Puts() != 2 {
		t.Errorf("%d updates, want 2 (nurse1 once, clerk once)", kc.Puts())
	}
}

func TestWebhookForwarderOverNATS(t *testing.T) {
	b := newBus(t)
	secret := []byte("a-shared-secret-for-the-test")
	var mu sync.Mutex
	var got []cloudevents.Event
	fails := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		if fails > 0 {
			fails--
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, time.Now(), time.Minute); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev cloudevents.Event
		if err := ev.UnmarshalJSON(body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got = append(got, ev)
	}))
	t.Cleanup(srv.Close)
	f, err := webhook.New(webhook.Config{URL: srv.URL, Secret: secret, Retries: 1, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b.deactivated("clinic-a", "d1", "nurse1")
	b.deactivated("clinic-a", "d2", "clerk")
	b.run("webhook-forwarder", f.Handler(slog.New(slog.DiscardHandler)))
	b.settled("webhook-forwarder")
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].ID() != events.DerivedID("deactivated", "d1") || got[1].ID() != events.DerivedID("deactivated", "d2") {
		t.Fatalf("receiver got %d events: %v", len(got), got)
	}
	d, err := events.DecodeAs[*events.UserDeactivated](got[1])
	if err != nil || d.Username != "clerk" || events.Site(got[1]) != "clinic-a" {
		t.Fatalf("second event: %+v, %v", d, err)
	}
}
