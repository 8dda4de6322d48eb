package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/dormant"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// whatIf prints who a tick at --at would warn and whose deactivation it would request, under
// the site's effective policy or the one in --policy, without changing anything.
func whatIf(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("whatif", flag.ContinueOnError)
	site := fs.String("site", "", "site id (required)")
	atFlag := fs.String("at", "", "the tick to preview: YYYY-MM-DD or RFC 3339 (default: now)")
	policyFile := fs.String("policy", "", "a YAML policy block to try instead of the site's (defaults apply to what it leaves out; OpenMRS settings do not)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *site == "" {
		return errors.New("whatif: --site is required")
	}
	at, err := parseWhen(*atFlag, time.Now())
	if err != nil {
		return err
	}
	var override *policy.Policy
	if *policyFile != "" {
		raw, err := os.ReadFile(*policyFile)
		if err != nil {
			return fmt.Errorf("whatif: %w", err)
		}
		l, err := policy.LoadYAML(raw, nil)
		if err != nil {
			return fmt.Errorf("whatif: %s: %w", *policyFile, err)
		}
		override = &l.Policy
	}
	cfg, err := dormant.ConfigFromEnv()
	if err != nil {
		return err
	}
	sites, err := siteconfig.Load(cfg.ConfigFile)
	if err != nil {
		return err
	}
	db, err := sqldb.Open(ctx, cfg.DB, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("DORMANT_DB: %w", err)
	}
	defer db.Close()
	previews, err := policysvc.WhatIf(ctx, policysvc.PreviewDeps{DB: db, Sites: sites, Log: zap.NewNop()}, *site, at, override)
	if err != nil {
		return err
	}
	printPreviews(stdout, *site, at, previews)
	return nil
}

// parseWhen reads a date (midnight UTC) or an RFC 3339 instant; empty is now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("whatif: --at %q: want YYYY-MM-DD or RFC 3339", s)
	}
	return t.UTC(), nil
}

func printPreviews(w io.Writer, site string, at time.Time, previews []policysvc.Preview) {
	var retire, warn int
	for _, p := range previews {
		if p.Kind == policy.KindDeactivate {
			retire++
		} else {
			warn++
		}
	}
	fmt.Fprintf(w, "what-if for site %s at %s: %d deactivation(s), %d warning(s); nothing was changed\n\n", site, at.Format(time.RFC3339), retire, warn)
	if len(previews) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DECISION\tUSERNAME\tUSER\tRULE\tDEACTIVATE ON\tDAYS LEFT\tWHY")
	for _, p := range previews {
		decision, days := "retire", "-"
		if p.Kind == policy.KindWarn {
			decision, days = "warn", fmt.Sprint(p.DaysLeft)
		}
		if p.WouldBe {
			decision += " (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", decision, p.Username, p.UserUUID, p.Rule, p.DeactivateOn.UTC().Format(time.DateOnly), days, p.Reason)
	}
	tw.Flush()
}
