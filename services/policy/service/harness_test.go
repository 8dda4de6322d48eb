package service

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/events/eventstest"
	"github.com/dormant-dev/dormant/services/platform/infra/infratest"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/testenv"
	"github.com/dormant-dev/dormant/services/policy/actuator"
)

// engines opens an empty database of each engine the policy runs on.
var engines = []struct {
	name string
	open func(t *testing.T) *sqldb.DB
}{
	{"sqlite", func(t *testing.T) *sqldb.DB {
		db, err := sqldb.Open(context.Background(), filepath.Join(t.TempDir(), "policy.db"), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db
	}},
	{"postgres", func(t *testing.T) *sqldb.DB {
		db, err := sqldb.Open(context.Background(), testenv.Postgres(t), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db
	}},
}

// harness runs the real policy service on real NATS (a subject root of its own) and feeds it
// events the way login-ingest, the roster sync and the clock do.
type harness struct {
	t    *testing.T
	ctx  context.Context
	js   jetstream.JetStream
	ns   events.Namespace
	p    *Policy
	now  time.Time // the wall clock the service sees for admin actions
	seq  map[string]uint64
	stop func()
	n    int
}

func newHarness(t *testing.T, db *sqldb.DB, sitesYAML string) *harness {
	t.Helper()
	js, root := infratest.Bus(t)
	ctx := context.Background()
	sites, err := siteconfig.Parse([]byte(sitesYAML))
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.ClockEnabled = false // the test is the clock
	opts.BatchWait = 20 * time.Millisecond
	ns := events.Namespace{Root: root}
	p, err := New(ctx, Deps{Log: zap.NewNop(), JS: js, NS: ns, DB: db, Sites: sites, Registry: prometheus.NewRegistry()}, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, js: js, ns: ns, p: p, seq: map[string]uint64{}}
	p.engine.now = func() time.Time { return h.now }
	h.start()
	t.Cleanup(func() { h.stop(); p.Close() })
	return h
}

// start runs the service's consumers; stop ends them (a restart of the process).
func (h *harness) start() {
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	h.stop = func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			h.t.Errorf("service stopped with %v", err)
		}
	}
}

func (h *harness) publish(subject string, ev cloudevents.Event) *jetstream.PubAck {
	h.t.Helper()
	msg, err := events.ToNATS(subject, ev)
	if err != nil {
		h.t.Fatal(err)
	}
	ack, err := h.js.PublishMsg(h.ctx, msg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.seq[ack.Stream] = max(h.seq[ack.Stream], ack.Sequence)
	return ack
}

func (h *harness) event(site string, d events.Data, at time.Time) cloudevents.Event {
	h.t.Helper()
	h.n++
	ev, err := events.New("openmrs://test", site, d, fmt.Sprintf("test-%d", h.n), at)
	if err != nil {
		h.t.Fatal(err)
	}
	return ev
}

func (h *harness) sync(site string, u events.UserSynced) {
	h.t.Helper()
	if u.Roles == nil {
		u.Roles = []string{}
	}
	h.publish(h.ns.UserSynced(site), h.event(site, &u, u.CreatedAt))
}

func (h *harness) login(site, uuid, username string, at time.Time) {
	h.t.Helper()
	h.publish(h.ns.LastLogin(site), h.event(site, &events.LastLoginRecorded{UserUUID: uuid, Username: username, LastLoginAt: at}, at))
}

func (h *harness) failedLogin(site, uuid, username string, at time.Time) {
	h.t.Helper()
	h.publish(h.ns.FailedLogin(site), h.event(site, &events.LoginFailed{UserUUID: uuid, Username: username, OccurredAt: at, Method: events.MethodForm}, at))
}

// tick publishes the tick at with an id of its own (so JetStream keeps even a repeated or
// late tick and the policy itself must ignore it), and waits until it is handled.
func (h *harness) tickWithID(at time.Time, id string) {
	h.t.Helper()
	ev, err := events.New(clockSource, "", &events.ClockTick{At: at, Period: "P1D"}, id, at)
	if err != nil {
		h.t.Fatal(err)
	}
	h.publish(h.ns.Tick(), ev)
	h.settle()
}

func (h *harness) tick(at time.Time) {
	h.t.Helper()
	ev, err := TickEvent(at, 24*time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	h.publish(h.ns.Tick(), ev)
	h.settle()
}

// settle waits until both consumers have acknowledged everything published to their streams.
func (h *harness) settle() {
	h.t.Helper()
	for stream, consumer := range map[string]string{h.ns.StreamRecords(): h.p.opts.RecordsConsumer, h.ns.StreamClock(): h.p.opts.TicksConsumer} {
		want := h.seq[stream]
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := h.js.Consumer(h.ctx, stream, consumer)
			if err != nil {
				h.t.Fatal(err)
			}
			info, err := c.Info(h.ctx)
			if err != nil {
				h.t.Fatal(err)
			}
			if info.AckFloor.Stream >= want {
				break
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("%s: acked up to %d, want %d", consumer, info.AckFloor.Stream, want)
			}
			time.Sleep(3 * time.Millisecond)
		}
	}
}

// withoutActuator restarts the service without the actuator, for a test of the decisions
// alone on sites without an OpenMRS connection: there the actuator fails every request at
// once and the policy returns the user to due (failed_test.go), at a moment that would race
// with what the test checks. The requests wait, unconsumed, on the durable consumer.
func (h *harness) withoutActuator() {
	h.t.Helper()
	h.stop()
	h.p.singletons = slices.DeleteFunc(h.p.singletons, func(c component) bool {
		_, ok := c.(*actuator.Actuator)
		return ok
	})
	h.start()
}

// actionsSettled waits until the actuator has settled every deactivation request and the
// projection's actions feed every outcome: what a failure changes is then in the store. The
// sites of these tests have no OpenMRS connection (or a fake one), so the actuator fails or
// carries out each request at once.
func (h *harness) actionsSettled() {
	h.t.Helper()
	// In this order: the actuator publishes its outcome before it acks the request, so once
	// it has settled, the feed has the outcome to consume.
	for _, c := range []struct{ stream, consumer string }{
		{h.ns.StreamDecisions(), h.p.opts.Actuator.Consumer},
		{h.ns.StreamActions(), h.p.opts.Actuator.Consumer + "-projection"},
	} {
		stream, consumer := c.stream, c.consumer
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := h.js.Consumer(h.ctx, stream, consumer)
			if err != nil {
				h.t.Fatal(err)
			}
			info, err := c.Info(h.ctx)
			if err != nil {
				h.t.Fatal(err)
			}
			if info.NumPending == 0 && info.NumAckPending == 0 {
				break
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("%s: %d pending, %d awaiting an ack after 20s", consumer, info.NumPending, info.NumAckPending)
			}
			time.Sleep(3 * time.Millisecond)
		}
	}
}

// emitted reads every event stored on stream, checking each against its JSON Schema.
func (h *harness) emitted(stream string) []cloudevents.Event {
	h.t.Helper()
	s, err := h.js.Stream(h.ctx, stream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []cloudevents.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(h.ctx, seq)
		if err != nil {
			h.t.Fatal(err)
		}
		ev, err := events.FromNATS(m.Header, m.Data)
		if err != nil {
			h.t.Fatal(err)
		}
		eventstest.AssertMatchesSchema(h.t, ev)
		out = append(out, ev)
	}
	return out
}
