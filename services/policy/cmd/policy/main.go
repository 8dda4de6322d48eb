// Command policy keeps dormant's projection of OpenMRS users and decides, on clock ticks, who
// is warned and who is retired. Configuration comes from the environment; see
// docs/configuration.md.
package main

import (
	"context"

	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/policy/service"
)

func main() {
	infra.Main("policy", "127.0.0.1:8082", func(ctx context.Context) error {
		cfg, err := service.ConfigFromEnv()
		if err != nil {
			return err
		}
		return service.Run(ctx, cfg)
	})
}
