package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
)

// watchEnv is the part of the configuration watch needs: where NATS is and the subject root.
type watchEnv struct {
	NATSURL    string `env:"DORMANT_NATS_URL"`
	NATSListen string `env:"DORMANT_NATS_LISTEN" envDefault:"127.0.0.1:4223"`
	Root       string `env:"DORMANT_SUBJECT_ROOT" envDefault:"dormant"`
	Auth       natsbus.Auth
}

// watch prints dormant's events as they happen, one line each: when, subject, type, user and
// the data. It subscribes without a consumer, so it changes nothing and misses nothing live.
func watch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	site := fs.String("site", "", "only this site's events (and the clock ticks)")
	url := fs.String("url", "", "NATS URL (default: DORMANT_NATS_URL, else the all-in-one's listener DORMANT_NATS_LISTEN)")
	count := fs.Int("count", 0, "stop after this many events (default: until interrupted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var e watchEnv
	if err := env.Parse(&e); err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	ns := events.Namespace{Root: e.Root}
	if err := ns.Validate(); err != nil {
		return fmt.Errorf("DORMANT_SUBJECT_ROOT: %w", err)
	}
	if *site != "" && !events.ValidSite(*site) {
		return fmt.Errorf("--site %q: must match [a-z0-9-]{1,40}", *site)
	}
	target := *url
	if target == "" {
		target = e.NATSURL
	}
	if target == "" {
		target = "nats://" + e.NATSListen
	}
	auth, err := e.Auth.Options()
	if err != nil {
		return err
	}
	nc, err := natsbus.Connect(target, "dormant-watch", zap.NewNop(), auth...)
	if err != nil {
		return err
	}
	defer nc.Close()

	msgs := make(chan *nats.Msg, 1024)
	sub, err := nc.ChanSubscribe(e.Root+".>", msgs)
	if err != nil {
		return fmt.Errorf("subscribe to %s.>: %w", e.Root, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("subscribe to %s.>: %w", e.Root, err)
	}
	fmt.Fprintf(stderr, "watching %s.> on %s\n", e.Root, nc.ConnectedUrlRedacted())
	shown := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			line, ok := describe(m, *site)
			if !ok {
				continue
			}
			fmt.Fprintln(stdout, line)
			if shown++; *count > 0 && shown >= *count {
				return nil
			}
		}
	}
}

// describe renders one message, or reports false for another site's event.
func describe(m *nats.Msg, site string) (string, bool) {
	ev, err := events.FromNATS(m.Header, m.Data)
	if err != nil {
		if site != "" {
			return "", false
		}
		return fmt.Sprintf("%s %s (not a CloudEvent: %v)", time.Now().UTC().Format(time.RFC3339), m.Subject, err), true
	}
	evSite := events.Site(ev)
	if site != "" && evSite != "" && evSite != site {
		return "", false
	}
	data := string(ev.Data())
	var compact json.RawMessage
	if json.Unmarshal(ev.Data(), &compact) == nil {
		if b, err := json.Marshal(compact); err == nil {
			data = string(b)
		}
	}
	user := ""
	if ev.Subject() != "" {
		user = " user=" + ev.Subject()
	}
	return fmt.Sprintf("%s %s %s%s %s", ev.Time().UTC().Format(time.RFC3339), m.Subject, ev.Type(), user, data), true
}
