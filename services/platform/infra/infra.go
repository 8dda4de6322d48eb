// Package infra opens what a dormant process runs on (logger, NATS, database, site
// configuration, HTTP server, metrics registry) and closes it again, so that each service's
// main and the all-in-one binary only wire components.
package infra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/buildinfo"
	"github.com/dormant-dev/dormant/services/platform/httpserver"
	"github.com/dormant-dev/dormant/services/platform/logging"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
)

// Config says where the process's dependencies are. The env tags are the variables every
// dormant process reads (docs/configuration.md lists them).
type Config struct {
	// NATSURL is an external server or cluster; empty starts an embedded server when
	// AllowEmbedded, and is an error otherwise.
	NATSURL string `env:"DORMANT_NATS_URL"`
	// DB is a postgres:// URL, or a SQLite file path (empty: dormant.db under DataDir).
	DB      string `env:"DORMANT_DB"`
	DataDir string `env:"DORMANT_DATA_DIR" envDefault:"./data"`
	// ConfigFile is the YAML file listing the sites.
	ConfigFile string `env:"DORMANT_CONFIG"`
	LogLevel   string `env:"DORMANT_LOG_LEVEL" envDefault:"info"`
	LogFormat  string `env:"DORMANT_LOG_FORMAT" envDefault:"json"`
	Bus        BusOptions
	NATSAuth   natsbus.Auth

	// Set by the binary, not the environment.

	// Name identifies the process in logs and to NATS ("login-ingest", "dormant").
	Name          string `env:"-"`
	AllowEmbedded bool   `env:"-"`
	// NATSListen is where the embedded server accepts outside clients ("" = in-process only).
	NATSListen string `env:"-"`
	// HTTPAddr is where health, metrics and the binary's own routes are served.
	HTTPAddr string `env:"-"`
	// NATSOptions are extra client options beyond NATSAuth (tests use them).
	NATSOptions []nats.Option `env:"-"`
	// LogCore, when set, receives every log entry besides the configured output (tests
	// capture the logs of a whole run with it).
	LogCore zapcore.Core `env:"-"`
}

// BusOptions shape the subjects and streams.
type BusOptions struct {
	// SubjectRoot is the first token of every subject and the prefix of every stream name.
	SubjectRoot string `env:"DORMANT_SUBJECT_ROOT" envDefault:"dormant"`
	// StreamReplicas is 1 on a single server, 3 in a cluster.
	StreamReplicas int `env:"DORMANT_STREAM_REPLICAS" envDefault:"1"`
	// StreamMaxAge bounds how long the streams keep messages (0: keep).
	StreamMaxAge time.Duration `env:"DORMANT_STREAM_MAX_AGE" envDefault:"0s"`
	// The per-stream ages override StreamMaxAge for one stream each; unset (nil) keeps
	// StreamMaxAge. At national scale the auth and records streams carry nearly all the bytes
	// and want days, while the small ones can be kept for years (docs/scale.md).
	AuthMaxAge      *time.Duration `env:"DORMANT_STREAM_MAX_AGE_AUTH"`
	RecordsMaxAge   *time.Duration `env:"DORMANT_STREAM_MAX_AGE_RECORDS"`
	ClockMaxAge     *time.Duration `env:"DORMANT_STREAM_MAX_AGE_CLOCK"`
	DecisionsMaxAge *time.Duration `env:"DORMANT_STREAM_MAX_AGE_DECISIONS"`
	ActionsMaxAge   *time.Duration `env:"DORMANT_STREAM_MAX_AGE_ACTIONS"`
	SecurityMaxAge  *time.Duration `env:"DORMANT_STREAM_MAX_AGE_SECURITY"`
	DLQMaxAge       *time.Duration `env:"DORMANT_STREAM_MAX_AGE_DLQ"`
	// DuplicateWindow is how long JetStream remembers event ids to drop republished events.
	DuplicateWindow time.Duration `env:"DORMANT_DUPLICATE_WINDOW" envDefault:"10m"`
}

// Namespace is the contract's subjects and streams under the configured root.
func (b BusOptions) Namespace() events.Namespace { return events.Namespace{Root: b.SubjectRoot} }

// streamAge is one per-stream retention setting: the stream, its variable and its value.
type streamAge struct {
	stream, env string
	age         *time.Duration
}

func (b BusOptions) streamAges() []streamAge {
	ns := b.Namespace()
	return []streamAge{
		{ns.StreamAuth(), "DORMANT_STREAM_MAX_AGE_AUTH", b.AuthMaxAge},
		{ns.StreamRecords(), "DORMANT_STREAM_MAX_AGE_RECORDS", b.RecordsMaxAge},
		{ns.StreamClock(), "DORMANT_STREAM_MAX_AGE_CLOCK", b.ClockMaxAge},
		{ns.StreamDecisions(), "DORMANT_STREAM_MAX_AGE_DECISIONS", b.DecisionsMaxAge},
		{ns.StreamActions(), "DORMANT_STREAM_MAX_AGE_ACTIONS", b.ActionsMaxAge},
		{ns.StreamSecurity(), "DORMANT_STREAM_MAX_AGE_SECURITY", b.SecurityMaxAge},
		{ns.StreamDLQ(), "DORMANT_STREAM_MAX_AGE_DLQ", b.DLQMaxAge},
	}
}

// MaxAges is the retention of every stream, by stream name: its own setting, or StreamMaxAge.
func (b BusOptions) MaxAges() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, s := range b.streamAges() {
		out[s.stream] = b.StreamMaxAge
		if s.age != nil {
			out[s.stream] = *s.age
		}
	}
	return out
}

// Validate reports every bad value, naming its variable.
func (b BusOptions) Validate() error {
	var errs []error
	if err := b.Namespace().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("DORMANT_SUBJECT_ROOT %q: %w", b.SubjectRoot, err))
	}
	if b.StreamReplicas < 1 || b.StreamReplicas > 5 {
		errs = append(errs, fmt.Errorf("DORMANT_STREAM_REPLICAS %d: must be 1 to 5", b.StreamReplicas))
	}
	if b.StreamMaxAge < 0 {
		errs = append(errs, fmt.Errorf("DORMANT_STREAM_MAX_AGE %s: must not be negative", b.StreamMaxAge))
	}
	for _, s := range b.streamAges() {
		if s.age != nil && *s.age < 0 {
			errs = append(errs, fmt.Errorf("%s %s: must not be negative", s.env, *s.age))
		}
	}
	if b.DuplicateWindow <= 0 {
		errs = append(errs, fmt.Errorf("DORMANT_DUPLICATE_WINDOW %s: must be positive", b.DuplicateWindow))
	}
	return errors.Join(errs...)
}

// Provision creates or updates every stream of the contract, so a changed retention is
// applied to existing streams at the next start of any service.
func Provision(ctx context.Context, js jetstream.JetStream, b BusOptions) error {
	specs := b.Namespace().Streams()
	streams := make([]natsbus.Stream, len(specs))
	for i, s := range specs {
		streams[i] = natsbus.Stream(s)
	}
	return natsbus.Provision(ctx, js, streams, natsbus.StreamOptions{
		Replicas:     b.StreamReplicas,
		Duplicates:   b.DuplicateWindow,
		MaxAge:       b.StreamMaxAge,
		StreamMaxAge: b.MaxAges(),
	})
}

// Validate reports every bad value, naming its variable.
func (c Config) Validate() error {
	var errs []error
	if c.ConfigFile == "" {
		errs = append(errs, errors.New("DORMANT_CONFIG: the site configuration file is required (it lists the sites)"))
	}
	if c.NATSURL == "" && !c.AllowEmbedded {
		errs = append(errs, errors.New("DORMANT_NATS_URL: required for this service (only the all-in-one dormant binary embeds NATS)"))
	}
	return errors.Join(append(errs, c.Bus.Validate())...)
}

// Infra is an open set of dependencies.
type Infra struct {
	Log      *zap.Logger
	NC       *nats.Conn
	JS       jetstream.JetStream
	DB       *sqldb.DB
	Sites    *siteconfig.File
	Registry *prometheus.Registry
	HTTP     *httpserver.Server

	embedded *server.Server
}

// Open opens every dependency, logging which mode the process runs in and where its data
// lives. On error, whatever was opened is closed again.
func Open(ctx context.Context, cfg Config) (_ *Infra, err error) {
	log, err := logging.New(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return nil, err
	}
	if cfg.LogCore != nil {
		log = log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, cfg.LogCore) }))
	}
	log = log.With(zap.String("process", cfg.Name))
	in := &Infra{Log: log, Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			in.Close()
		}
	}()
	in.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	in.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "dormant_build_info",
		Help:        "Always 1; the version label says which build runs.",
		ConstLabels: prometheus.Labels{"version": buildinfo.Version, "process": cfg.Name},
	}, func() float64 { return 1 }))

	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if in.Sites, err = siteconfig.Load(cfg.ConfigFile); err != nil {
		return nil, err
	}

	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("DORMANT_DATA_DIR %q: %w", cfg.DataDir, err)
	}
	if err := in.openNATS(cfg, dataDir); err != nil {
		return nil, err
	}
	if err := Provision(ctx, in.JS, cfg.Bus); err != nil {
		return nil, err
	}
	if in.DB, err = sqldb.Open(ctx, cfg.DB, dataDir); err != nil {
		return nil, fmt.Errorf("DORMANT_DB: %w", err)
	}
	log.Info("database", zap.String("db", in.DB.Describe()))

	in.HTTP = httpserver.New(cfg.HTTPAddr, log, in.Registry)
	in.HTTP.AddCheck("nats", func(context.Context) error {
		if !in.NC.IsConnected() {
			return fmt.Errorf("nats: %s", in.NC.Status())
		}
		return nil
	})
	in.HTTP.AddCheck("database", in.DB.Ping)
	log.Info("started", zap.String("version", buildinfo.String()), zap.Int("sites", len(in.Sites.Sites)))
	return in, nil
}

func (in *Infra) openNATS(cfg Config, dataDir string) error {
	var err error
	if cfg.NATSURL == "" {
		storeDir := filepath.Join(dataDir, "nats")
		if err := os.MkdirAll(storeDir, 0o750); err != nil {
			return fmt.Errorf("create %s: %w", storeDir, err)
		}
		in.embedded, err = natsbus.StartEmbedded(natsbus.EmbeddedConfig{StoreDir: storeDir, Listen: cfg.NATSListen, ServerName: cfg.Name})
		if err != nil {
			return err
		}
		in.NC, err = natsbus.ConnectInProcess(in.embedded, cfg.Name, cfg.NATSOptions...)
		if err != nil {
			return err
		}
		listen := cfg.NATSListen
		if listen == "" {
			listen = "(in-process only)"
		}
		in.Log.Info("mode: embedded NATS", zap.String("jetstream_store", storeDir), zap.String("listen", listen))
	} else {
		auth, err := cfg.NATSAuth.Options()
		if err != nil {
			return err
		}
		in.NC, err = natsbus.Connect(cfg.NATSURL, cfg.Name, in.Log, append(auth, cfg.NATSOptions...)...)
		if err != nil {
			return fmt.Errorf("DORMANT_NATS_URL: %w", err)
		}
		in.Log.Info("mode: external NATS", zap.String("url", in.NC.ConnectedUrlRedacted()))
	}
	in.JS, err = jetstream.New(in.NC)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

// Close drains NATS (delivering what was published), closes the database, and stops an
// embedded server last.
func (in *Infra) Close() {
	if in.NC != nil {
		if err := in.NC.Drain(); err != nil {
			in.NC.Close()
		}
		deadline := time.Now().Add(10 * time.Second)
		for !in.NC.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if in.DB != nil {
		in.DB.Close()
	}
	if in.embedded != nil {
		in.embedded.Shutdown()
		in.embedded.WaitForShutdown()
	}
	_ = in.Log.Sync()
}

// Serve binds the HTTP address and runs the server and each of runs until ctx ends or one of
// them fails; then it cancels the rest and waits for them to finish what they have in flight.
func (in *Infra) Serve(ctx context.Context, runs ...func(context.Context) error) error {
	ln, err := in.HTTP.Listen()
	if err != nil {
		return err
	}
	return in.ServeOn(ctx, ln, runs...)
}

// ServeOn is Serve on a listener the caller bound already.
func (in *Infra) ServeOn(ctx context.Context, ln net.Listener, runs ...func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return in.HTTP.Serve(gctx, ln) })
	for _, run := range runs {
		g.Go(func() error { return run(gctx) })
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Main is the body of every dormant command's main: it runs run with a context that ends on
// SIGINT or SIGTERM, and exits non-zero with the error, prefixed by the command's name.
//
// `<command> healthcheck` instead probes the running process's /healthz at DORMANT_HTTP_ADDR
// (or defaultHTTPAddr), for container health checks in images without a shell.
func Main(name, defaultHTTPAddr string, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		addr := os.Getenv("DORMANT_HTTP_ADDR")
		if addr == "" {
			addr = defaultHTTPAddr
		}
		err = httpserver.Probe(ctx, addr, "/healthz")
	} else {
		err = run(ctx)
	}
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
