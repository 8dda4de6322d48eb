package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Main is the body of every example command: it builds the handler, connects to dormant's
// NATS as the environment says (NATS_URL, default the all-in-one's nats://127.0.0.1:4223;
// DORMANT_SUBJECT_ROOT; CONSUMER_NAME, default name) and runs until SIGINT or SIGTERM,
// logging JSON to stderr and exiting non-zero on failure.
func Main(name string, build func(log *slog.Logger) (Handler, error)) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := serve(name, log, build); err != nil {
		log.Error(name+" stopped", "err", err)
		os.Exit(1)
	}
}

func serve(name string, log *slog.Logger, build func(*slog.Logger) (Handler, error)) error {
	h, err := build(log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, err := nats.Connect(env("NATS_URL", "nats://127.0.0.1:4223"), nats.Name(name), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Drain()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	log.Info(name + " started")
	return Run(ctx, Config{JS: js, Root: env("DORMANT_SUBJECT_ROOT", "dormant"), Durable: env("CONSUMER_NAME", name), Log: log}, h)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
