package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/platform/infra/infratest"
	"github.com/dormant-dev/dormant/services/platform/leader"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/policy/notifier"
)

func TestLeaderOptionsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    LeaderOptions
		want string // "" for valid
	}{
		{"the defaults are valid", DefaultOptions().Leader, ""},
		{"a lease under 3s is refused", LeaderOptions{LeaseTTL: 2 * time.Second, RenewInterval: time.Second}, "DORMANT_LEADER_LEASE_TTL"},
		{"a lease over 10m is refused", LeaderOptions{LeaseTTL: time.Hour, RenewInterval: time.Minute}, "DORMANT_LEADER_LEASE_TTL"},
		{"a renewal slower than half the lease is refused", LeaderOptions{LeaseTTL: 10 * time.Second, RenewInterval: 6 * time.Second}, "DORMANT_LEADER_RENEW_INTERVAL"},
		{"a zero renewal is refused", LeaderOptions{LeaseTTL: 10 * time.Second}, "DORMANT_LEADER_RENEW_INTERVAL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// switchLease is a lease the test turns on and off.
type switchLease struct{ on bool }

func (l *switchLease) Valid() bool { return l.on }

type countingMailer struct{ sent int }

func (m *countingMailer) Send(context.Context, notifier.Message) error { m.sent++; return nil }

// TestGuardsLetNothingOutWithoutTheLease: every way the singleton work reaches OpenMRS, mail
// or JetStream refuses while the lease is not held, with an error the actuator and the
// notifier retry; with the lease, the call goes through.
func TestGuardsLetNothingOutWithoutTheLease(t *testing.T) {
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	uuid := fake.AddUser(openmrstest.UserSpec{Username: "nurse", Roles: []string{"Nurse"}})
	client, err := openmrs.New(openmrs.Config{BaseURL: fake.URL(), Username: "admin", Password: "Admin123"})
	if err != nil {
		t.Fatal(err)
	}
	mailer := &countingMailer{}
	lease := &switchLease{}
	ctx := context.Background()
	each := func(openmrs.User, int) error { return nil }
	for _, tc := range []struct {
		name    string
		call    func() error
		reached func() int
	}{
		{"actuator reads a user", func() error { _, err := (leaseActuatorClient{c: client, lease: lease}).User(ctx, uuid); return err },
			func() int { return fake.Requests()["GET /user/{uuid}"] }},
		{"actuator retires", func() error { return (leaseActuatorClient{c: client, lease: lease}).RetireUser(ctx, uuid, "test") },
			func() int { return fake.Requests()["DELETE /user/{uuid}"] }},
		{"actuator unretires", func() error { return (leaseActuatorClient{c: client, lease: lease}).UnretireUser(ctx, uuid) },
			func() int { return fake.Requests()["POST /user/{uuid}"] }},
		{"roster lists users", func() error { return (leaseRoster{c: client, lease: lease}).EachUser(ctx, 50, 0, each) },
			func() int { return fake.Requests()["GET /user"] }},
		{"roster reads a person", func() error {
			u, _ := fake.User(uuid)
			_, err := (leaseRoster{c: client, lease: lease}).Person(ctx, u.PersonUUID)
			return err
		}, func() int { return fake.Requests()["GET /person/{uuid}"] }},
		{"notifier lists admins", func() error { return (leaseAdmins{c: client, lease: lease}).EachUser(ctx, 50, 0, each) },
			func() int { return fake.Requests()["GET /user"] }},
		{"notifier posts an alert", func() error {
			return (leaseAlerter{c: client, lease: lease}).CreateAlert(ctx, openmrs.Alert{Text: "t", Recipients: []string{uuid}})
		}, func() int { return fake.Requests()["POST /alert"] }},
		{"notifier mails", func() error { return (leaseMailer{m: mailer, lease: lease}).Send(ctx, notifier.Message{}) },
			func() int { return mailer.sent }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lease.on = false
			before := tc.reached()
			err := tc.call()
			if !errors.Is(err, leader.ErrLeaseLost) {
				t.Fatalf("without the lease: got %v, want ErrLeaseLost", err)
			}
			if !openmrs.Retryable(err) {
				t.Fatal("ErrLeaseLost is not retryable: the actuator would record a failure instead of leaving the request to the next leader")
			}
			if n := tc.reached() - before; n != 0 {
				t.Fatalf("without the lease, %d calls went out", n)
			}
			lease.on = true
			if err := tc.call(); err != nil {
				t.Fatalf("with the lease: %v", err)
			}
			if n := tc.reached() - before; n == 0 {
				t.Fatal("with the lease, the call did not go out: the test proves nothing")
			}
		})
	}
}

func TestGuardedJetStreamRefusesEveryPublishWithoutTheLease(t *testing.T) {
	// No call may reach the wrapped JetStream: a nil one panics if any does.
	js := leaseJS{lease: &switchLease{}}
	ctx := context.Background()
	for name, publish := range map[string]func() error{
		"Publish":         func() error { _, err := js.Publish(ctx, "s", nil); return err },
		"PublishMsg":      func() error { _, err := js.PublishMsg(ctx, nats.NewMsg("s")); return err },
		"PublishAsync":    func() error { _, err := js.PublishAsync("s", nil); return err },
		"PublishMsgAsync": func() error { _, err := js.PublishMsgAsync(nats.NewMsg("s")); return err },
	} {
		if err := publish(); !errors.Is(err, leader.ErrLeaseLost) {
			t.Errorf("%s: got %v, want ErrLeaseLost", name, err)
		}
	}
}

// replica is one policy process of several on the same NATS subject root and database.
type replica struct {
	p      *Policy
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func (r *replica) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("replica stopped with %v", err)
	}
}

func (r *replica) leads() bool { return r.p.leader.Valid() }

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestReplicasSyncTheRosterOnceAndHandOver runs two policy replicas: one syncs the roster
// and carries out deactivations, the other does neither; stopped, the first hands both over
// at once.
func TestReplicasSyncTheRosterOnceAndHandOver(t *testing.T) {
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	nurse := fake.AddUser(openmrstest.UserSpec{Username: "nurse", Roles: []string{"Nurse"}})
	clerk := fake.AddUser(openmrstest.UserSpec{Username: "clerk", Roles: []string{"Clerk"}})
	t.Setenv("DORMANT_REPLICA_TEST_OPENMRS_PASSWORD", "Admin123")
	sites, err := siteconfig.Parse(fmt.Appendf(nil, `
sites:
  - id: main
    openmrs_url: %s
    openmrs_user: admin
    openmrs_password_env: DORMANT_REPLICA_TEST_OPENMRS_PASSWORD
    policy:
      enabled: true
`, fake.URL()))
	if err != nil {
		t.Fatal(err)
	}
	js, root := infratest.Bus(t)
	ctx := context.Background()
	ns := events.Namespace{Root: root}
	t.Cleanup(func() { _ = js.DeleteKeyValue(context.Background(), LeaseBucket(ns)) })
	db := engines[0].open(t)
	opts := DefaultOptions()
	opts.ClockEnabled = false
	opts.Leader = LeaderOptions{LeaseTTL: 3 * time.Second, RenewInterval: time.Second}

	start := func() *replica {
		r := &replica{reg: prometheus.NewRegistry(), done: make(chan error, 1)}
		d := Deps{Log: zap.NewNop(), JS: js, NS: ns, DB: db, Sites: sites, Registry: r.reg}
		if d.Leader, err = Elect(ctx, d, 1, opts.Leader); err != nil {
			t.Fatal(err)
		}
		if r.p, err = New(ctx, d, opts); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		r.cancel = cancel
		go func() { r.done <- r.p.Run(rctx) }()
		t.Cleanup(func() { r.stop(t); _ = r.p.Close() })
		return r
	}
	a := start()
	waitUntil(t, "the first replica to lead", a.leads)
	b := start()
	waitUntil(t, "the leader's roster sync", func() bool { return fake.Requests()["GET /user"] > 0 })
	// Long enough for a second replica's sync at start to show, had it run one.
	time.Sleep(time.Second)
	if n := fake.Requests()["GET /user"]; n != 1 {
		t.Fatalf("%d roster list requests with two replicas, want 1 (one sync of one page)", n)
	}
	if b.leads() {
		t.Fatal("both replicas lead")
	}
	if got := gaugeValue(t, a.reg, "dormant_leader_is_leader") + 2*gaugeValue(t, b.reg, "dormant_leader_is_leader"); got != 1 {
		t.Fatalf("is_leader: a=%g b=%g, want 1 and 0", gaugeValue(t, a.reg, "dormant_leader_is_leader"), gaugeValue(t, b.reg, "dormant_leader_is_leader"))
	}

	h := &harness{t: t, ctx: ctx, js: js, ns: ns, p: a.p, seq: map[string]uint64{}}
	id := forge(h, nurse, "nurse")
	waitUntil(t, "the leader's actuator to retire the nurse", func() bool {
		_, ok, err := a.p.actuatorStore.Decision(ctx, "main", id)
		return err == nil && ok
	})

	// A graceful stop hands over well within the lease: the follower needs no expiry.
	a.stop(t)
	stopped := time.Now()
	waitUntil(t, "the second replica to lead", b.leads)
	if took := time.Since(stopped); took > opts.Leader.LeaseTTL/2 {
		t.Errorf("handover took %s, lease %s: it waited for the expiry", took, opts.Leader.LeaseTTL)
	}
	waitUntil(t, "the new leader's roster sync", func() bool { return fake.Requests()["GET /user"] >= 2 })
	id = forge(h, clerk, "clerk")
	waitUntil(t, "the new leader's actuator to retire the clerk", func() bool {
		_, ok, err := b.p.actuatorStore.Decision(ctx, "main", id)
		return err == nil && ok
	})
	if n := fake.Requests()["DELETE /user/{uuid}"]; n != 2 {
		t.Errorf("%d retire calls, want 2 (one per request)", n)
	}
}
