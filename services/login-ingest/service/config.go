package service

import (
	"errors"
	"fmt"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/dormant-dev/dormant/services/platform/infra"
)

// Config is login-ingest's configuration, read from the environment (12-factor). Every field
// is listed with its default in docs/configuration.md; a test keeps the two in step.
type Config struct {
	infra.Config
	HTTPAddr string `env:"DORMANT_HTTP_ADDR" envDefault:"127.0.0.1:8081"`
	Options
}

// Options are the knobs of the ingest pipeline itself, shared by the standalone service and
// the all-in-one binary.
type Options struct {
	// Consumer is the durable consumer's name; replicas of login-ingest share it.
	Consumer string `env:"DORMANT_INGEST_CONSUMER" envDefault:"login-ingest"`
	// BatchSize is the most events handled in one transaction.
	BatchSize int `env:"DORMANT_INGEST_BATCH_SIZE" envDefault:"500"`
	// BatchWait is how long a fetch waits to fill a batch.
	BatchWait time.Duration `env:"DORMANT_INGEST_BATCH_WAIT" envDefault:"100ms"`
	// MaxAckPending bounds the events delivered and not yet acknowledged.
	MaxAckPending int `env:"DORMANT_INGEST_MAX_ACK_PENDING" envDefault:"20000"`
	// AckWait is how long JetStream waits for an ack before redelivering.
	AckWait time.Duration `env:"DORMANT_INGEST_ACK_WAIT" envDefault:"30s"`
	// MaxClockSkew is how far in the future an occurred_at may be before it is refused.
	MaxClockSkew time.Duration `env:"DORMANT_INGEST_MAX_CLOCK_SKEW" envDefault:"5m"`
	// MaxBodyBytes limits one HTTP request to the intake endpoint.
	MaxBodyBytes int64 `env:"DORMANT_INGEST_MAX_BODY_BYTES" envDefault:"1048576"`
	// PublishTimeout bounds the wait for JetStream's acknowledgements of an HTTP request's events.
	PublishTimeout time.Duration `env:"DORMANT_INGEST_PUBLISH_TIMEOUT" envDefault:"5s"`
}

// ConfigFromEnv reads the configuration from the environment and validates it.
func ConfigFromEnv() (Config, error) {
	var c Config
	if err := infra.ParseEnv(&c); err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	c.Name, c.Config.HTTPAddr = "login-ingest", c.HTTPAddr
	return c, c.Validate()
}

// DefaultOptions returns the options with every default applied.
func DefaultOptions() Options {
	var o Options
	if err := env.ParseWithOptions(&o, env.Options{Environment: map[string]string{}}); err != nil {
		panic(fmt.Sprintf("login-ingest defaults do not parse: %v", err))
	}
	return o
}

// Validate reports every bad value, naming its variable.
func (c Config) Validate() error {
	return errors.Join(c.Config.Validate(), c.Options.Validate())
}

// Validate reports every bad pipeline option, naming its variable.
func (o Options) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.Consumer != "", "DORMANT_INGEST_CONSUMER: must not be empty")
	check(o.BatchSize >= 1 && o.BatchSize <= 10000, "DORMANT_INGEST_BATCH_SIZE %d: must be 1 to 10000", o.BatchSize)
	check(o.BatchWait > 0, "DORMANT_INGEST_BATCH_WAIT %s: must be positive", o.BatchWait)
	check(o.MaxAckPending >= o.BatchSize, "DORMANT_INGEST_MAX_ACK_PENDING %d: must be at least the batch size %d", o.MaxAckPending, o.BatchSize)
	check(o.AckWait >= time.Second, "DORMANT_INGEST_ACK_WAIT %s: must be at least 1s", o.AckWait)
	check(o.MaxClockSkew >= 0, "DORMANT_INGEST_MAX_CLOCK_SKEW %s: must not be negative", o.MaxClockSkew)
	check(o.MaxBodyBytes >= 1024, "DORMANT_INGEST_MAX_BODY_BYTES %d: must be at least 1024", o.MaxBodyBytes)
	check(o.PublishTimeout > 0, "DORMANT_INGEST_PUBLISH_TIMEOUT %s: must be positive", o.PublishTimeout)
	return errors.Join(errs...)
}
