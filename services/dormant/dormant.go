// Package dormant is the all-in-one process: every component of dormant in one binary, with
// an embedded NATS server and SQLite by default. Like Loki's -target, a target picks which
// components run, so the same binary also runs one component per process.
package dormant

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"go.uber.org/zap"

	ingestsvc "github.com/dormant-dev/dormant/services/login-ingest/service"
	"github.com/dormant-dev/dormant/services/platform/infra"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// Config is the all-in-one configuration, read from the environment. docs/configuration.md
// lists every variable.
type Config struct {
	infra.Config
	HTTPAddr string `env:"DORMANT_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	// NATSListen is where the embedded NATS server accepts admins and other systems; it is
	// not 4222 so it never clashes with a NATS server already on the machine.
	NATSListen string `env:"DORMANT_NATS_LISTEN" envDefault:"127.0.0.1:4223"`
	// Target picks the components: all, or a comma list of ingest and policy.
	Target string `env:"DORMANT_TARGET" envDefault:"all"`
	Ingest ingestsvc.Options
	Policy policysvc.Options
}

// Components a target can name.
const (
	ComponentIngest = "ingest"
	ComponentPolicy = "policy"
)

var targets = map[string][]string{
	"all":           {ComponentIngest, ComponentPolicy},
	ComponentIngest: {ComponentIngest},
	ComponentPolicy: {ComponentPolicy},
}

// ConfigFromEnv reads the configuration from the environment and validates it.
func ConfigFromEnv() (Config, error) {
	var c Config
	if err := infra.ParseEnv(&c); err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	return c, c.Validate()
}

// Validate reports every bad value, naming its variable.
func (c Config) Validate() error {
	c.finish()
	_, terr := c.components()
	return errors.Join(terr, c.Config.Validate(), c.Ingest.Validate(), c.Policy.Validate())
}

// finish fills in what the binary, not the environment, decides.
func (c *Config) finish() {
	c.Name = "dormant"
	c.AllowEmbedded = true
	c.Config.HTTPAddr = c.HTTPAddr
	c.Config.NATSListen = c.NATSListen
}

func (c Config) components() (map[string]bool, error) {
	set := map[string]bool{}
	for _, t := range strings.Split(c.Target, ",") {
		comps, ok := targets[strings.TrimSpace(t)]
		if !ok {
			names := make([]string, 0, len(targets))
			for n := range targets {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("DORMANT_TARGET %q: unknown target %q (known: %s)", c.Target, t, strings.Join(names, ", "))
		}
		for _, comp := range comps {
			set[comp] = true
		}
	}
	return set, nil
}

// App is a started all-in-one process.
type App struct {
	Infra  *infra.Infra
	Ingest *ingestsvc.Ingest // nil unless the target includes ingest
	Policy *policysvc.Policy // nil unless the target includes policy

	ln net.Listener
}

// Start opens the dependencies, creates the target's components and binds the HTTP address.
// Nothing is consumed or served until Run.
func Start(ctx context.Context, cfg Config) (_ *App, err error) {
	cfg.finish()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	comps, _ := cfg.components()
	inf, err := infra.Open(ctx, cfg.Config)
	if err != nil {
		return nil, err
	}
	a := &App{Infra: inf}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	ns := cfg.Bus.Namespace()
	if comps[ComponentIngest] {
		a.Ingest, err = ingestsvc.New(ctx, ingestsvc.Deps{Log: inf.Log, JS: inf.JS, NS: ns, DB: inf.DB, Sites: inf.Sites, Registry: inf.Registry}, cfg.Ingest)
		if err != nil {
			return nil, err
		}
		a.Ingest.Routes(inf.HTTP.Mux)
	}
	if comps[ComponentPolicy] {
		d := policysvc.Deps{Log: inf.Log, JS: inf.JS, NS: ns, DB: inf.DB, Sites: inf.Sites, Registry: inf.Registry}
		// On its embedded NATS the process is alone and leads without asking. On an external
		// NATS another dormant or policy process may share the installation (a second
		// machine, DORMANT_TARGET=policy beside a policy replica): the roster sync, actuator
		// and notifier then go to the one elected, exactly as between policy replicas.
		if cfg.NATSURL != "" {
			if d.Leader, err = policysvc.Elect(ctx, d, cfg.Bus.StreamReplicas, cfg.Policy.Leader); err != nil {
				return nil, err
			}
		}
		a.Policy, err = policysvc.New(ctx, d, cfg.Policy)
		if err != nil {
			return nil, err
		}
		a.Policy.Routes(inf.HTTP.Mux)
	}
	if a.ln, err = inf.HTTP.Listen(); err != nil {
		return nil, err
	}
	inf.Log.Info("serving", zap.String("target", cfg.Target), zap.String("http", "http://"+a.Addr()+"/"))
	return a, nil
}

// Addr is the bound HTTP address (useful when the configuration asked for port 0).
func (a *App) Addr() string { return a.ln.Addr().String() }

// Run serves and consumes until ctx ends, then lets every component finish its batch in
// flight. It does not close the dependencies: Close does.
func (a *App) Run(ctx context.Context) error {
	var runs []func(context.Context) error
	if a.Ingest != nil {
		runs = append(runs, a.Ingest.Run)
	}
	if a.Policy != nil {
		runs = append(runs, a.Policy.Run)
	}
	return a.Infra.ServeOn(ctx, a.ln, runs...)
}

// Close closes the components and then the dependencies.
func (a *App) Close() {
	if a.Ingest != nil {
		_ = a.Ingest.Close()
	}
	if a.Policy != nil {
		_ = a.Policy.Close()
	}
	if a.ln != nil {
		_ = a.ln.Close()
	}
	a.Infra.Close()
}
