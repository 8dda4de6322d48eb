package keycloak

import (
	"context"
	"errors"
	"log/slog"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/dormant-dev/dormant/deploy/examples/consumer"
	"github.com/dormant-dev/dormant/events"
)

// Disabler is the consumer.Handler that disables, in Keycloak, the user dormant retired in
// OpenMRS (matched by username). A username Keycloak does not know is logged and
// acknowledged; a 4xx other than 429 fails for good; the rest is retried.
func Disabler(c *Client, log *slog.Logger) consumer.Handler {
	return func(ctx context.Context, ev cloudevents.Event, d *events.UserDeactivated) error {
		res, err := c.DisableUser(ctx, d.Username)
		switch {
		case errors.Is(err, ErrNoSuchUser):
			log.Info("not a Keycloak user; nothing to disable", "site", events.Site(ev), "username", d.Username)
			return nil
		case err != nil && !Retryable(err):
			return consumer.Permanent(err)
		case err != nil:
			return err
		}
		log.Info("Keycloak user disabled", "site", events.Site(ev), "username", d.Username, "result", string(res), "event", ev.ID())
		return nil
	}
}
