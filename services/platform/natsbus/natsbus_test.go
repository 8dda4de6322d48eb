package natsbus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/services/platform/natsbus"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

func TestEmbeddedServerKeepsMessagesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	streams := []natsbus.Stream{{Name: "KEEP", Subjects: []string{"keep.>"}}}

	publish := func() {
		s, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{StoreDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { s.Shutdown(); s.WaitForShutdown() }()
		nc, err := natsbus.ConnectInProcess(s, "test")
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if err := natsbus.Provision(ctx, js, streams, natsbus.StreamOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, "keep.a", []byte("one")); err != nil {
			t.Fatal(err)
		}
	}
	publish()

	s, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{StoreDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	// The network listener serves outside clients too, not only in-process ones.
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, "KEEP")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("after restart the stream holds %d messages, want 1", info.State.Msgs)
	}
}

func TestProvisionIsIdempotentAndUpdates(t *testing.T) {
	nc, root := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := strings.ToUpper(root) + "_AUTH"
	streams := []natsbus.Stream{{Name: name, Subjects: []string{root + ".auth.>"}}}
	for i := 0; i < 2; i++ {
		if err := natsbus.Provision(ctx, js, streams, natsbus.StreamOptions{MaxAge: time.Hour}); err != nil {
			t.Fatalf("provision #%d: %v", i+1, err)
		}
	}
	if err := natsbus.Provision(ctx, js, streams, natsbus.StreamOptions{Duplicates: time.Minute, MaxAge: 2 * time.Hour}); err != nil {
		t.Fatalf("update: %v", err)
	}
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxAge != 2*time.Hour || cfg.Duplicates != time.Minute || cfg.Storage != jetstream.FileStorage {
		t.Fatalf("stream config not updated: max age %s, duplicates %s, storage %s", cfg.MaxAge, cfg.Duplicates, cfg.Storage)
	}
}

func TestProvisionRejectsIncompleteStream(t *testing.T) {
	err := natsbus.Provision(context.Background(), nil, []natsbus.Stream{{Name: "X"}}, natsbus.StreamOptions{})
	if err == nil {
		t.Fatal("a stream without subjects was accepted")
	}
}
