package events

import (
	"context"
	"testing"
	"time"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/nats-io/nats.go"
)

// TestFastUserSessionTakesTheSDKJetStreamSender: a session sent by the SDK's own
// nats_jetstream binding, read back from JetStream, takes the fast path and gives what the
// SDK path gives.
func TestFastUserSessionTakesTheSDKJetStreamSender(t *testing.T) {
	nc, _, ns, cons := natsStream(t)
	ev := sampleCloudEvent(t, TypeUserSession)
	sender, err := cejs.NewSenderFromConn(nc, ns.StreamAuth(), ns.Auth("clinic-a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sender.Send(ctx, binding.ToMessage(&ev)); err != nil {
		t.Fatalf("SDK send: %v", err)
	}
	m := fetchOne(t, cons)
	want, err := sdkSession(m.Headers(), m.Data())
	if err != nil {
		t.Fatal(err)
	}
	got, ok := FastUserSession(m.Headers(), m.Data())
	if !ok {
		t.Fatalf("the fast path left the SDK binding's message (headers %v) to the SDK", m.Headers())
	}
	if err := sameSession(want, got); err != nil {
		t.Fatal(err)
	}
}

// TestFastNATSDecodesWithTheSDK: a record written by FastNATS and stored by JetStream is read
// by the SDK's binding as the event New builds, and a replay is dropped by its Nats-Msg-Id.
func TestFastNATSDecodesWithTheSDK(t *testing.T) {
	_, js, ns, cons := natsStream(t)
	d := fullSamples()[TypeLastLoginRecorded]
	id := DerivedID("lastlogin", "clinic-a", uuidA)
	source := SourceFor("login-ingest", "clinic-a")
	want, err := New(source, "clinic-a", d, id, t0)
	if err != nil {
		t.Fatal(err)
	}
	// The auth stream is the one natsStream provides; the subject does not matter here.
	msg, ok := FastNATS(ns.Auth("clinic-a"), source, "clinic-a", d, id, t0)
	if !ok {
		t.Fatal("the fast path left a record to the SDK")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	again, _ := FastNATS(ns.Auth("clinic-a"), source, "clinic-a", d, id, t0)
	if ack, err := js.PublishMsg(ctx, again); err != nil || !ack.Duplicate {
		t.Fatalf("a replay with the same id was not dropped: %+v, %v", ack, err)
	}
	m := fetchOne(t, cons)
	got, err := binding.ToEvent(ctx, cejs.NewMessage(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()}))
	if err != nil {
		t.Fatalf("SDK reading FastNATS's message: %v", err)
	}
	assertSameEvent(t, want, *got)
}
