package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/dormant"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/policy"
)

// Levels of a doctor line. Only failures make the command exit non-zero.
const (
	levelOK   = "ok"
	levelWarn = "WARN"
	levelFail = "FAIL"
)

// Names of dormant's own checks, beside openmrs.Diagnose's.
const (
	checkConnection = "openmrs connection"
	checkHook       = "hook events"
	checkPolicy     = "dormant policy"
	checkBothRetire = "both retire"
)

// doctorPrivileges are what dormant's acting user needs: openmrs.RequiredPrivileges, and Get
// People for the names the roster sync reads from GET /person.
var doctorPrivileges = append(append([]string(nil), openmrs.RequiredPrivileges...), "Get People")

type doctorLine struct {
	level, name, detail string
}

// doctor checks each configured site (or one): OpenMRS answers, the credentials work, the
// acting user holds the privileges dormant needs, the login hook has sent events recently,
// and core's AutoRetireUsersTask is not retiring users beside dormant. It changes nothing.
func doctor(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	only := fs.String("site", "", "check only this site (default: every site in DORMANT_CONFIG)")
	silence := fs.Duration("max-silence", 24*time.Hour, "how long the hook may send nothing before the check fails")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
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

	// The bus is needed only for the hook check: without it, the OpenMRS checks still run.
	js, closeBus, busErr := connectBus(cfg, "dormant-doctor")
	defer closeBus()
	ns := cfg.Bus.Namespace()
	failed := 0
	for i, s := range chosen {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		lines := doctorSite(ctx, s, js, busErr, ns, time.Now(), *silence)
		fmt.Fprintf(stdout, "site %s (%s)\n", s.ID, orNone(s.OpenMRSURL))
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		for _, l := range lines {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", l.level, l.name, l.detail)
			if l.level == levelFail {
				failed++
			}
		}
		_ = tw.Flush()
	}
	if failed > 0 {
		return fmt.Errorf("doctor: %d check(s) failed", failed)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no openmrs_url"
	}
	return s
}

// doctorSite runs every check of one site. js may be nil, with busErr saying why.
func doctorSite(ctx context.Context, s siteconfig.Site, js jetstream.JetStream, busErr error, ns events.Namespace, now time.Time, maxSilence time.Duration) []doctorLine {
	var lines []doctorLine
	add := func(level, name, format string, args ...any) {
		lines = append(lines, doctorLine{level, name, fmt.Sprintf(format, args...)})
	}
	client, err := siteClient(s)
	if err != nil {
		add(levelFail, checkConnection, "%v", err)
	} else {
		rep := openmrs.Diagnose(ctx, client, openmrs.DiagnoseOptions{Privileges: doctorPrivileges})
		coreRetires := false
		for _, c := range rep.Checks {
			level := levelOK
			if !c.OK {
				level = levelFail
				coreRetires = coreRetires || c.Name == openmrs.CheckCoreAutoRetire
			}
			add(level, c.Name, "%s", c.Detail)
		}
		if rep.OK() || coreRetires {
			lines = append(lines, policyLines(ctx, client, s, coreRetires)...)
		}
	}
	if js == nil {
		add(levelFail, checkHook, "cannot reach NATS to look for the hook's events: %v", busErr)
	} else {
		level, detail := hookFreshness(ctx, js, ns, s.ID, now, maxSilence)
		add(level, checkHook, "%s", detail)
	}
	return lines
}

func siteClient(s siteconfig.Site) (*openmrs.Client, error) {
	if s.OpenMRSURL == "" || s.OpenMRSUser == "" {
		return nil, errors.New("openmrs_url and openmrs_user are not configured: roster sync, retirements and sign-in are off for this site")
	}
	password, err := s.OpenMRSPassword()
	if err != nil {
		return nil, err
	}
	return openmrs.New(openmrs.Config{BaseURL: s.OpenMRSURL, Username: s.OpenMRSUser, Password: password, UserAgent: "dormant-doctor", MaxRetries: 1})
}

// policyLines reports whether dormant itself would retire users at the site (its effective
// policy: the file's block, then OpenMRS's dormant.* global properties), and fails when core's
// auto-retire task is running too, since both would then retire users.
func policyLines(ctx context.Context, c *openmrs.Client, s siteconfig.Site, coreRetires bool) []doctorLine {
	gps, err := c.SystemSettings(ctx, "dormant.")
	if err == nil {
		var core map[string]string
		core, err = c.SystemSettings(ctx, openmrs.GPAutoRetireDays)
		for k, v := range core {
			gps[k] = v
		}
	}
	if err != nil {
		return []doctorLine{{levelWarn, checkPolicy, fmt.Sprintf("could not read the site's global properties: %v", err)}}
	}
	loaded, err := policy.Load(&s.Policy, gps)
	if err != nil {
		return []doctorLine{{levelFail, checkPolicy, fmt.Sprintf("the site's policy does not load: %v", err)}}
	}
	p := loaded.Policy
	var state string
	switch {
	case !p.Enabled:
		state = "off (enabled: false): dormant retires nobody"
	case p.DryRun:
		state = "on in dry run: decisions are shown, nobody is retired"
	default:
		state = fmt.Sprintf("on: retires users inactive for %s", formatDays(p.InactiveAfter))
	}
	lines := []doctorLine{{levelOK, checkPolicy, state}}
	if coreRetires && p.Enabled && !p.DryRun {
		lines = append(lines, doctorLine{levelFail, checkBothRetire,
			"core's AutoRetireUsersTask and dormant would both retire users; core's has no warning, exemption or guard: stop the task in Admin > Scheduler or unset " + openmrs.GPAutoRetireDays})
	}
	return lines
}

func formatDays(d time.Duration) string {
	days := d.Hours() / 24
	if days == float64(int64(days)) {
		return fmt.Sprintf("%d days", int64(days))
	}
	return d.String()
}

// hookFreshness looks at the newest authentication event of the site on the bus: the hook
// (or another publisher of logins) is alive when it is recent. Events dormant published itself
// (the backfill) prove nothing about the hook.
func hookFreshness(ctx context.Context, js jetstream.JetStream, ns events.Namespace, site string, now time.Time, maxSilence time.Duration) (level, detail string) {
	st, err := js.Stream(ctx, ns.StreamAuth())
	if err != nil {
		return levelFail, fmt.Sprintf("stream %s: %v (is dormant running against this NATS?)", ns.StreamAuth(), err)
	}
	m, err := st.GetLastMsgForSubject(ctx, ns.Auth(site))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return levelFail, fmt.Sprintf("no authentication event from the site on %s: is the dormant module installed in OpenMRS, with dormant.ingestUrl, dormant.token and dormant.site = %s?", ns.Auth(site), site)
	}
	if err != nil {
		return levelFail, fmt.Sprintf("read the newest event on %s: %v", ns.Auth(site), err)
	}
	age := now.Sub(m.Time)
	source := "unknown source"
	if ev, err := events.FromNATS(m.Header, m.Data); err == nil {
		source = ev.Source()
	}
	when := fmt.Sprintf("%s ago (%s)", age.Round(time.Second), m.Time.UTC().Format(time.RFC3339))
	switch {
	case strings.HasPrefix(source, "/dormant/"):
		return levelWarn, fmt.Sprintf("the newest event, %s, came from dormant itself (%s), not the hook: log in to OpenMRS and run doctor again", when, source)
	case age > maxSilence:
		return levelFail, fmt.Sprintf("the newest event is %s, from %s: nothing for longer than %s; is the hook still installed and login-ingest reachable from OpenMRS?", when, source, maxSilence)
	default:
		return levelOK, fmt.Sprintf("newest event %s from %s", when, source)
	}
}

// connectBus connects to the NATS dormant runs on: DORMANT_NATS_URL, or the listener of a
// running all-in-one's embedded server. done is never nil.
func connectBus(cfg dormant.Config, name string) (js jetstream.JetStream, done func(), err error) {
	done = func() {}
	url := cfg.NATSURL
	if url == "" {
		url = "nats://" + cfg.NATSListen
	}
	auth, err := cfg.NATSAuth.Options()
	if err != nil {
		return nil, done, err
	}
	nc, err := natsbus.Connect(url, name, zap.NewNop(), auth...)
	if err != nil {
		return nil, done, fmt.Errorf("connect to NATS at %s (is dormant running?): %w", url, err)
	}
	if js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, done, err
	}
	return js, nc.Close, nil
}
