package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/dormant-dev/dormant/services/dormant"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/policy/backfill"
)

// backfillCmd imports the last logins OpenMRS recorded (the lastLoginTimestamp user property)
// as login events, for one site or all: login-ingest stores them like the hook's, never moving
// a newer last login back. --dry-run reads and counts only.
func backfillCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	only := fs.String("site", "", "backfill only this site (default: every site in DORMANT_CONFIG)")
	dryRun := fs.Bool("dry-run", false, "read and count, publish nothing")
	pageSize := fs.Int("page-size", 100, "users per GET /user")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pageSize < 1 || *pageSize > 1000 {
		return errors.New("backfill: -page-size must be 1 to 1000")
	}
	cfg, err := dormant.ConfigFromEnv()
	if err != nil {
		return err
	}
	sites, err := siteconfig.Load(cfg.ConfigFile)
	if err != nil {
		return err
	}
	chosen := sites.Sites
	if *only != "" {
		s, ok := sites.Site(*only)
		if !ok {
			return fmt.Errorf("site %q is not in %s", *only, cfg.ConfigFile)
		}
		chosen = []siteconfig.Site{s}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	opts := backfill.Options{DryRun: *dryRun, PageSize: *pageSize}
	js, closeBus, err := connectBus(cfg, "dormant-backfill")
	defer closeBus()
	if err != nil && !*dryRun {
		return err
	}
	var failed []error
	for _, s := range chosen {
		client, err := siteClient(s)
		if err != nil {
			failed = append(failed, fmt.Errorf("site %s: %w", s.ID, err))
			fmt.Fprintf(stdout, "site %s: skipped: %v\n", s.ID, err)
			continue
		}
		sum, err := backfill.Run(ctx, client, js, cfg.Bus.Namespace(), s.ID, opts)
		fmt.Fprintln(stdout, sum)
		if err != nil {
			// What was published stays; a second run publishes the rest and dedupes the rest.
			failed = append(failed, err)
			fmt.Fprintf(stdout, "site %s: stopped: %v\n", s.ID, err)
		}
	}
	return errors.Join(failed...)
}
