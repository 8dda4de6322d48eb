package events

import (
	"context"
	"testing"
	"time"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/services/platform/testenv"
)

// natsStream creates the auth stream of a private namespace and a consumer on it.
func natsStream(t *testing.T) (*nats.Conn, jetstream.JetStream, Namespace, jetstream.Consumer) {
	t.Helper()
	nc, root := testenv.NATS(t)
	ns := Namespace{Root: root}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	spec := ns.Streams()[0]
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: spec.Name, Subjects: spec.Subjects}); err != nil {
		t.Fatalf("create stream %s: %v", spec.Name, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, spec.Name, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	return nc, js, ns, cons
}

func fetchOne(t *testing.T, cons jetstream.Consumer) jetstream.Msg {
	t.Helper()
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		_ = m.Ack()
		return m
	}
	t.Fatalf("no message: %v", batch.Error())
	return nil
}

func TestSDKJetStreamSenderDecodesWithFromNATS(t *testing.T) {
	nc, _, ns, cons := natsStream(t)
	want := sampleCloudEvent(t, TypeUserSession)
	subject := ns.Auth("clinic-a")
	sender, err := cejs.NewSenderFromConn(nc, ns.StreamAuth(), subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sender.Send(ctx, binding.ToMessage(&want)); err != nil {
		t.Fatalf("SDK send: %v", err)
	}
	m := fetchOne(t, cons)
	got, err := FromNATS(m.Headers(), m.Data())
	if err != nil {
		t.Fatalf("FromNATS of the SDK's message (headers %v): %v", m.Headers(), err)
	}
	assertSameEvent(t, want, got)
	if _, err := Decode(got); err != nil {
		t.Fatal(err)
	}
}

func TestToNATSDecodesWithTheSDKAndDeduplicates(t *testing.T) {
	_, js, ns, cons := natsStream(t)
	want := sampleCloudEvent(t, TypeUserSession)
	msg, err := ToNATS(ns.Auth("clinic-a"), want)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	again, _ := ToNATS(ns.Auth("clinic-a"), want)
	ack, err := js.PublishMsg(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Duplicate {
		t.Error("a replay with the same event id was stored twice; Nats-Msg-Id must be the event id")
	}
	m := fetchOne(t, cons)
	got, err := binding.ToEvent(ctx, cejs.NewMessage(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()}))
	if err != nil {
		t.Fatalf("SDK reading ToNATS's message: %v", err)
	}
	assertSameEvent(t, want, *got)
}
