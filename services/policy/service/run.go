package service

import (
	"context"

	"github.com/dormant-dev/dormant/services/platform/infra"
)

// Run runs the policy service as its own process until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	inf, err := infra.Open(ctx, cfg.Config)
	if err != nil {
		return err
	}
	defer inf.Close()

	d := Deps{Log: inf.Log, JS: inf.JS, NS: cfg.Bus.Namespace(), DB: inf.DB, Sites: inf.Sites, Registry: inf.Registry}
	// The policy service always runs on an external NATS, maybe as one of several replicas:
	// the once-per-cluster work goes to the elected one.
	if d.Leader, err = Elect(ctx, d, cfg.Bus.StreamReplicas, cfg.Leader); err != nil {
		return err
	}
	p, err := New(ctx, d, cfg.Options)
	if err != nil {
		return err
	}
	defer p.Close()
	p.Routes(inf.HTTP.Mux)
	return inf.Serve(ctx, p.Run)
}
