// Command webhook-forwarder POSTs every dormant.user.deactivated event to a webhook URL,
// signed with HMAC-SHA256 (see package webhook for the headers and how to verify them).
//
// Environment:
//
//	NATS_URL              dormant's NATS (default nats://127.0.0.1:4223, the all-in-one's)
//	DORMANT_SUBJECT_ROOT  dormant's subject root (default dormant)
//	CONSUMER_NAME         the durable consumer (default webhook-forwarder)
//	WEBHOOK_URL           where to POST
//	WEBHOOK_SECRET        the shared secret (at least 16 bytes)
package main

import (
	"log/slog"
	"os"

	"github.com/dormant-dev/dormant/deploy/examples/consumer"
	"github.com/dormant-dev/dormant/deploy/examples/webhook"
)

func main() {
	consumer.Main("webhook-forwarder", func(log *slog.Logger) (consumer.Handler, error) {
		f, err := webhook.New(webhook.Config{URL: os.Getenv("WEBHOOK_URL"), Secret: []byte(os.Getenv("WEBHOOK_SECRET"))})
		if err != nil {
			return nil, err
		}
		return f.Handler(log), nil
	})
}
