package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/dormant"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy/actuator"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// reactivate unretires one user: in OpenMRS, in the actuator's record (who and why) and on
// the bus (dormant.user.reactivated, which the running policy service turns into a fresh
// grace period). It reads the same environment as `dormant serve`; with the embedded NATS of
// a running all-in-one it connects to DORMANT_NATS_LISTEN.
func reactivate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("reactivate", flag.ContinueOnError)
	site := fs.String("site", "", "site id (required)")
	userUUID := fs.String("user", "", "the user's uuid")
	username := fs.String("username", "", "the user's username, looked up in the policy projection (instead of -user)")
	by := fs.String("by", os.Getenv("USER"), "who reactivates (default $USER)")
	reason := fs.String("reason", "", "why (required; kept in the record and the event)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *site == "" || *reason == "" || (*userUUID == "") == (*username == "") {
		fs.Usage()
		return errors.New("reactivate needs -site, -reason and one of -user or -username")
	}
	cfg, err := dormant.ConfigFromEnv()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	sites, err := siteconfig.Load(cfg.ConfigFile)
	if err != nil {
		return err
	}
	s, ok := sites.Site(*site)
	if !ok {
		return fmt.Errorf("site %q is not in %s", *site, cfg.ConfigFile)
	}
	password, err := s.OpenMRSPassword()
	if err != nil {
		return err
	}
	client, err := openmrs.New(openmrs.Config{BaseURL: s.OpenMRSURL, Username: s.OpenMRSUser, Password: password, UserAgent: "dormant"})
	if err != nil {
		return err
	}

	url := cfg.NATSURL
	auth, err := cfg.NATSAuth.Options()
	if err != nil {
		return err
	}
	if url == "" {
		url = "nats://" + cfg.NATSListen
	}
	nc, err := natsbus.Connect(url, "dormant-reactivate", zap.NewNop(), auth...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s (is dormant running?): %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	db, err := sqldb.Open(ctx, cfg.DB, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("DORMANT_DB: %w", err)
	}
	defer db.Close()
	store, err := actuator.OpenStore(ctx, db)
	if err != nil {
		return err
	}
	defer store.Close()
	if *username != "" {
		projection, err := policysvc.OpenStore(ctx, db)
		if err != nil {
			return err
		}
		u, err := projection.UserByUsername(ctx, *site, *username)
		if err != nil {
			return fmt.Errorf("find %s at %s: %w", *username, *site, err)
		}
		*userUUID = u.UUID
	}

	r := &actuator.Reactivator{JS: js, NS: cfg.Bus.Namespace(), Store: store, Clients: map[string]actuator.OpenMRS{s.ID: client}}
	rec, err := r.Reactivate(ctx, s.ID, *userUUID, *by, *reason)
	if err != nil {
		return err
	}
	state := "unretired"
	if !rec.WasRetired {
		state = "was not retired; given a fresh grace period"
	}
	fmt.Fprintf(stdout, "%s (%s) at %s: %s by %s at %s (record %s)\n", rec.Username, rec.UserUUID, rec.Site, state, rec.By, rec.ReactivatedAt.Format(time.RFC3339), rec.ID)
	return nil
}
