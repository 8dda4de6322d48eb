package actuator

import (
	"errors"
	"fmt"
	"time"

	"github.com/caarlos0/env/v11"
)

// Options are the actuator's knobs, read from the environment as part of the policy
// service's configuration (docs/configuration.md lists them).
type Options struct {
	// Consumer is the durable consumer of deactivation requests.
	Consumer string `env:"DORMANT_ACTUATOR_CONSUMER" envDefault:"actuator"`
	// Rate is the most retirements per second per site.
	Rate float64 `env:"DORMANT_ACTUATOR_RATE" envDefault:"10"`
	// Concurrency is the most requests carried out at once, all sites together.
	Concurrency int `env:"DORMANT_ACTUATOR_CONCURRENCY" envDefault:"8"`
	// MaxAttempts is how many deliveries a request gets before the failure event; each
	// delivery's REST calls are themselves retried by the OpenMRS client.
	MaxAttempts int `env:"DORMANT_ACTUATOR_MAX_ATTEMPTS" envDefault:"5"`
	// RetryBackoff is the wait before the second attempt; it doubles per attempt, with jitter.
	RetryBackoff time.Duration `env:"DORMANT_ACTUATOR_RETRY_BACKOFF" envDefault:"30s"`
	// MaxRetryBackoff caps the wait between attempts.
	MaxRetryBackoff time.Duration `env:"DORMANT_ACTUATOR_MAX_RETRY_BACKOFF" envDefault:"10m"`
	// AckWait is how long JetStream waits before redelivering a request whose actuator died;
	// a live actuator keeps a slow request by signalling progress.
	AckWait time.Duration `env:"DORMANT_ACTUATOR_ACK_WAIT" envDefault:"30s"`
}

// Validate reports every bad option, naming its variable.
func (o Options) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.Consumer != "", "DORMANT_ACTUATOR_CONSUMER: must not be empty")
	check(o.Rate > 0 && o.Rate <= 10000, "DORMANT_ACTUATOR_RATE %g: must be above 0 and at most 10000 per second", o.Rate)
	check(o.Concurrency >= 1 && o.Concurrency <= 256, "DORMANT_ACTUATOR_CONCURRENCY %d: must be 1 to 256", o.Concurrency)
	check(o.MaxAttempts >= 1 && o.MaxAttempts <= 100, "DORMANT_ACTUATOR_MAX_ATTEMPTS %d: must be 1 to 100", o.MaxAttempts)
	check(o.RetryBackoff > 0, "DORMANT_ACTUATOR_RETRY_BACKOFF %s: must be positive", o.RetryBackoff)
	check(o.MaxRetryBackoff >= o.RetryBackoff, "DORMANT_ACTUATOR_MAX_RETRY_BACKOFF %s: must be at least DORMANT_ACTUATOR_RETRY_BACKOFF", o.MaxRetryBackoff)
	check(o.AckWait >= time.Second, "DORMANT_ACTUATOR_ACK_WAIT %s: must be at least 1s", o.AckWait)
	return errors.Join(errs...)
}

// DefaultOptions returns the options with every default applied.
func DefaultOptions() Options {
	var o Options
	if err := env.ParseWithOptions(&o, env.Options{Environment: map[string]string{}}); err != nil {
		panic(fmt.Sprintf("actuator defaults do not parse: %v", err))
	}
	return o
}
