package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dormant-dev/dormant/services/dormant"
	ingestsvc "github.com/dormant-dev/dormant/services/login-ingest/service"
	"github.com/dormant-dev/dormant/services/platform/infra"
)

// replay puts the auth stream back through login-ingest's processing from a time or a
// sequence, with a progress bar on stderr and the final count on stdout.
func replay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fromTime := fs.String("from-time", "", "replay events the stream stored at or after this instant (RFC 3339)")
	fromSeq := fs.Uint64("from-seq", 0, "replay from this stream sequence")
	site := fs.String("site", "", "replay one site only (default: every site)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ro := ingestsvc.ReplayOptions{FromSeq: *fromSeq, Site: *site}
	if *fromTime != "" {
		t, err := time.Parse(time.RFC3339, *fromTime)
		if err != nil {
			return fmt.Errorf("--from-time %q: %w", *fromTime, err)
		}
		ro.FromTime = t
	}
	if ro.FromTime.IsZero() == (ro.FromSeq == 0) {
		return fmt.Errorf("replay: give exactly one of --from-time and --from-seq")
	}

	cfg, err := dormant.ConfigFromEnv()
	if err != nil {
		return err
	}
	ic := cfg.Config
	ic.Name = "dormant-replay"
	if ic.NATSURL == "" {
		// Embedded mode: the running all-in-one owns the JetStream store; reach it through
		// the listener it keeps for admins instead of opening the store a second time.
		ic.NATSURL = "nats://" + cfg.NATSListen
	}
	ic.LogLevel = "warn" // the progress bar is the output
	inf, err := infra.Open(ctx, ic)
	if err != nil {
		return err
	}
	defer inf.Close()

	bar := progressBar{w: stderr}
	ro.Progress = bar.show
	t, err := ingestsvc.Replay(ctx, ingestsvc.Deps{Log: inf.Log, JS: inf.JS, NS: cfg.Bus.Namespace(), DB: inf.DB, Sites: inf.Sites}, cfg.Ingest, ro)
	bar.finish()
	fmt.Fprintf(stdout, "replayed %s\n", t)
	return err
}

// progressBar redraws one line: a bar of done against done+pending, the counts, the rate.
type progressBar struct {
	w     io.Writer
	drawn bool
	last  time.Time
}

func (b *progressBar) show(p ingestsvc.ReplayProgress) {
	// At tens of thousands of events a second, redrawing per batch would flood a terminal.
	if time.Since(b.last) < 100*time.Millisecond && p.Pending > 0 {
		return
	}
	b.last = time.Now()
	const width = 30
	total := uint64(p.Events) + p.Pending
	filled := width
	if total > 0 {
		filled = int(uint64(width) * uint64(p.Events) / total)
	}
	fmt.Fprintf(b.w, "\r[%s%s] %d done, %d pending, %.0f events/s ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.Events, p.Pending, p.Rate())
	b.drawn = true
}

func (b *progressBar) finish() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
