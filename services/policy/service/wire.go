package service

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/services/openmrs"
)

// addDecisions creates the decision engine, the tick consumer and, when enabled, the clock.
func (p *Policy) addDecisions(ctx context.Context, d Deps) error {
	p.engine = newEngine(p.store, p.log, d.Sites.Sites, settingsOf(p.openmrs))
	p.engine.ns, p.engine.pub = d.NS, jsPublisher{js: d.JS}
	p.engine.metrics = newDecisionMetrics(d.Registry)
	cons, err := d.JS.CreateOrUpdateConsumer(ctx, d.NS.StreamClock(), jetstream.ConsumerConfig{
		Durable:       p.opts.TicksConsumer,
		Description:   "policy: decisions on clock ticks",
		FilterSubject: d.NS.Tick(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       p.opts.AckWait,
		// Ticks are decided one at a time and in order.
		MaxAckPending: 1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
	})
	if err != nil {
		return fmt.Errorf("create consumer %s: %w", p.opts.TicksConsumer, err)
	}
	p.components = append(p.components, &ticks{engine: p.engine, cons: cons, js: d.JS, ns: d.NS, log: p.log.Named("ticks")})
	if p.opts.ClockEnabled {
		p.components = append(p.components, &clock{js: d.JS, ns: d.NS, period: p.opts.ClockPeriod, log: p.log.Named("clock"), now: time.Now})
	}
	return nil
}

// settingsOf turns the REST clients into the engine's view of them; a site without a client
// has no global properties.
func settingsOf(clients map[string]*openmrs.Client) map[string]settingsSource {
	out := make(map[string]settingsSource, len(clients))
	for site, c := range clients {
		out[site] = c
	}
	return out
}
