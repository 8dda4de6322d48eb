// Command login-ingest turns OpenMRS authentication events into durable last-login records.
// Configuration comes from the environment; see docs/configuration.md.
package main

import (
	"context"

	"github.com/dormant-dev/dormant/services/login-ingest/service"
	"github.com/dormant-dev/dormant/services/platform/infra"
)

func main() {
	infra.Main("login-ingest", "127.0.0.1:8081", func(ctx context.Context) error {
		cfg, err := service.ConfigFromEnv()
		if err != nil {
			return err
		}
		return service.Run(ctx, cfg)
	})
}
