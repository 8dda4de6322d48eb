package notifier

import (
	"errors"
	"fmt"
	"time"
)

// Options are the notifier's knobs, read from the environment with the policy service's
// configuration (docs/configuration.md lists them).
type Options struct {
	// ConsumerPrefix names the durable consumers (<prefix>-warned, -held, -deactivated,
	// -failed, -reactivation-requested).
	ConsumerPrefix string `env:"DORMANT_NOTIFY_CONSUMER_PREFIX" envDefault:"notifier"`
	// DigestAt is the time of day (UTC, HH:MM) the daily digest goes to the admins; "off"
	// sends none.
	DigestAt string `env:"DORMANT_NOTIFY_DIGEST_AT" envDefault:"07:00"`
	// MaxAttempts is how many deliveries an event gets before its notifications are given up.
	MaxAttempts int `env:"DORMANT_NOTIFY_MAX_ATTEMPTS" envDefault:"10"`
	// RetryBackoff is the wait before the second attempt; it doubles per attempt, with jitter.
	RetryBackoff time.Duration `env:"DORMANT_NOTIFY_RETRY_BACKOFF" envDefault:"30s"`
}

func (o Options) digestOffset() (time.Duration, error) {
	if o.DigestAt == "off" {
		return 0, nil
	}
	t, err := time.Parse("15:04", o.DigestAt)
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Validate reports every bad option, naming its variable.
func (o Options) Validate() error {
	var errs []error
	if o.ConsumerPrefix == "" {
		errs = append(errs, errors.New("DORMANT_NOTIFY_CONSUMER_PREFIX: must not be empty"))
	}
	if _, err := o.digestOffset(); err != nil {
		errs = append(errs, fmt.Errorf("DORMANT_NOTIFY_DIGEST_AT %q: must be HH:MM (UTC) or off", o.DigestAt))
	}
	if o.MaxAttempts < 1 || o.MaxAttempts > 100 {
		errs = append(errs, fmt.Errorf("DORMANT_NOTIFY_MAX_ATTEMPTS %d: must be 1 to 100", o.MaxAttempts))
	}
	if o.RetryBackoff <= 0 {
		errs = append(errs, fmt.Errorf("DORMANT_NOTIFY_RETRY_BACKOFF %s: must be positive", o.RetryBackoff))
	}
	return errors.Join(errs...)
}
