package service

import (
	"errors"
	"fmt"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/policy/actuator"
	"github.com/dormant-dev/dormant/services/policy/notifier"
)

// Config is the policy service's configuration, read from the environment. Every field is
// listed with its default in docs/configuration.md; a test keeps the two in step.
type Config struct {
	infra.Config
	HTTPAddr string `env:"DORMANT_HTTP_ADDR" envDefault:"127.0.0.1:8082"`
	Options
}

// Options are the policy component's own knobs, shared with the all-in-one binary.
type Options struct {
	// RecordsConsumer is the durable consumer of the records stream.
	RecordsConsumer string `env:"DORMANT_POLICY_RECORDS_CONSUMER" envDefault:"policy-records"`
	// BatchSize is the most records applied per fetch.
	BatchSize int `env:"DORMANT_POLICY_BATCH_SIZE" envDefault:"500"`
	// BatchWait is how long a fetch waits to fill a batch.
	BatchWait time.Duration `env:"DORMANT_POLICY_BATCH_WAIT" envDefault:"100ms"`
	// AckWait is how long JetStream waits for an ack before redelivering.
	AckWait time.Duration `env:"DORMANT_POLICY_ACK_WAIT" envDefault:"30s"`
	// TicksConsumer is the durable consumer of the clock stream the decisions run on.
	TicksConsumer string `env:"DORMANT_POLICY_TICKS_CONSUMER" envDefault:"policy-ticks"`
	// ClockEnabled publishes clock ticks from this process; replicas may all do it, since
	// a tick's id dedupes it.
	ClockEnabled bool `env:"DORMANT_CLOCK_ENABLED" envDefault:"true"`
	// ClockPeriod is the time between ticks; ticks stand for period-aligned instants.
	ClockPeriod time.Duration `env:"DORMANT_CLOCK_PERIOD" envDefault:"1h"`
	// RosterSyncInterval is the time between full roster syncs of each site (the first runs at
	// start); 0 turns the sync off in this process.
	RosterSyncInterval time.Duration `env:"DORMANT_ROSTER_SYNC_INTERVAL" envDefault:"6h"`
	// RosterPageSize is the users asked per GET /user and recorded per sync checkpoint.
	RosterPageSize int `env:"DORMANT_ROSTER_PAGE_SIZE" envDefault:"100"`
	// Actuator and Notifier are those components' own options (DORMANT_ACTUATOR_*, DORMANT_NOTIFY_*).
	Actuator actuator.Options
	Notifier notifier.Options
	Admin    AdminOptions
	// Leader is the election of the replica that runs the roster sync, actuator and
	// notifier (DORMANT_LEADER_*, leader.go).
	Leader LeaderOptions
}

// ConfigFromEnv reads the configuration from the environment and validates it.
func ConfigFromEnv() (Config, error) {
	var c Config
	if err := infra.ParseEnv(&c); err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	c.Name, c.Config.HTTPAddr = "policy", c.HTTPAddr
	return c, c.Validate()
}

// DefaultOptions returns the options with every default applied.
func DefaultOptions() Options {
	var o Options
	if err := env.ParseWithOptions(&o, env.Options{Environment: map[string]string{}}); err != nil {
		panic(fmt.Sprintf("policy defaults do not parse: %v", err))
	}
	return o
}

// Validate reports every bad value, naming its variable.
func (c Config) Validate() error { return errors.Join(c.Config.Validate(), c.Options.Validate()) }

// Validate reports every bad option, naming its variable.
func (o Options) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.RecordsConsumer != "", "DORMANT_POLICY_RECORDS_CONSUMER: must not be empty")
	check(o.BatchSize >= 1 && o.BatchSize <= 10000, "DORMANT_POLICY_BATCH_SIZE %d: must be 1 to 10000", o.BatchSize)
	check(o.BatchWait > 0, "DORMANT_POLICY_BATCH_WAIT %s: must be positive", o.BatchWait)
	check(o.AckWait >= time.Second, "DORMANT_POLICY_ACK_WAIT %s: must be at least 1s", o.AckWait)
	errs = append(errs, o.Actuator.Validate(), o.Notifier.Validate(), o.Leader.Validate())
	check(o.TicksConsumer != "", "DORMANT_POLICY_TICKS_CONSUMER: must not be empty")
	check(o.ClockPeriod >= time.Second && o.ClockPeriod <= 24*time.Hour, "DORMANT_CLOCK_PERIOD %s: must be 1s to 24h", o.ClockPeriod)
	check(o.RosterSyncInterval == 0 || o.RosterSyncInterval >= time.Minute, "DORMANT_ROSTER_SYNC_INTERVAL %s: must be 0 (off) or at least 1m", o.RosterSyncInterval)
	check(o.RosterPageSize >= 1 && o.RosterPageSize <= 1000, "DORMANT_ROSTER_PAGE_SIZE %d: must be 1 to 1000", o.RosterPageSize)
	return errors.Join(errs...)
}
