package service

import (
	"context"
	"fmt"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/actuator"
)

// addActuator wires the actuator (deactivation requests carried out in OpenMRS), the
// reactivation feed (a reactivation counts as activity in the projection: the fresh grace
// period) and the reactivator the admin page uses.
func (p *Policy) addActuator(ctx context.Context, d Deps) error {
	store, err := actuator.OpenStore(ctx, d.DB)
	if err != nil {
		return err
	}
	var sites []actuator.Site
	var known []string
	clients := map[string]actuator.OpenMRS{}
	for _, s := range d.Sites.Sites {
		known = append(known, s.ID)
		c := p.openmrs[s.ID]
		if c == nil {
			continue
		}
		// The file's policy is checked here so a bad block fails the start; at actuation the
		// guard uses the effective policy (Policies below), global properties included.
		l, err := policy.Load(&s.Policy, nil)
		if err != nil {
			return fmt.Errorf("actuator: policy of site %s: %w", s.ID, err)
		}
		// The actuator runs only while this replica leads; its calls check the lease too.
		sites = append(sites, actuator.Site{ID: s.ID, Client: leaseActuatorClient{c: c, lease: p.leader}, Guard: actuator.GuardFor(s.OpenMRSUser, l.Policy)})
		clients[s.ID] = c
	}
	a, err := actuator.New(ctx, actuator.Deps{
		Log: p.log, JS: leaseJS{JetStream: d.JS, lease: p.leader}, NS: d.NS, Store: store, Projection: p.store, Exemptions: exemptions{p.store},
		Policies: guardPolicies{p.engine},
		Sites:    sites, Known: known, Registry: d.Registry, Now: p.now,
	}, p.opts.Actuator)
	if err != nil {
		return err
	}
	feed, err := actuator.NewActivityFeed(ctx, p.log, d.JS, d.NS, p.opts.Actuator.Consumer+"-projection", p.store)
	if err != nil {
		return err
	}
	// A failed deactivation returns the user to due (failed.go). Like the rest of the feed it
	// only changes the store, so every replica may take it; the admins are told by the
	// notifier, which runs on the leader.
	feed.Failures = newFailures(p.engine, p.opts.AckWait)
	// One actuator per cluster: its rate limit (DORMANT_ACTUATOR_RATE) is then the rate
	// OpenMRS sees, however many replicas run. The feed only folds events into the
	// projection, which every replica may do.
	p.singletons = append(p.singletons, a)
	p.components = append(p.components, feed)
	p.reactivator = &actuator.Reactivator{JS: d.JS, NS: d.NS, Store: store, Clients: clients, Now: p.now}
	p.actuatorStore = store
	return nil
}

// Reactivate unretires a user in OpenMRS, records who did it and why, and emits
// dormant.user.reactivated, which gives the user a fresh grace period.
func (p *Policy) Reactivate(ctx context.Context, site, userUUID, by, reason string) error {
	_, err := p.reactivator.Reactivate(ctx, site, userUUID, by, reason)
	return err
}

// now is the wall clock of the actuator, the reactivator and reactivation requests; tests
// that simulate days set Policy.clock.
func (p *Policy) now() time.Time {
	if p.clock != nil {
		return p.clock().UTC()
	}
	return time.Now().UTC()
}

// guardPolicies gives the actuator's guard the policy the decisions are taken under: the
// engine's loadPolicy (file, defaults, core's users.numberOfDaysToRetire, dormant.* global
// properties, the acting user added to never_touch), read afresh. Unlike the engine it keeps
// no last good policy: an unreadable policy holds the retirement (actuator/policies.go).
type guardPolicies struct{ engine *engine }

func (g guardPolicies) Policy(ctx context.Context, site string) (policy.Policy, error) {
	s, ok := g.engine.site(site)
	if !ok {
		return policy.Policy{}, fmt.Errorf("site %q is not configured", site)
	}
	l, err := g.engine.loadPolicy(ctx, s)
	if err != nil {
		return policy.Policy{}, err
	}
	return l.Policy, nil
}

// exemptions lets the actuator check the decision engine's exemptions before retiring.
type exemptions struct{ store policy.Store }

func (e exemptions) Exempt(ctx context.Context, site, userUUID string, t time.Time) (string, bool, error) {
	list, err := e.store.Exemptions(ctx, site)
	if err != nil {
		return "", false, err
	}
	for _, x := range list {
		if x.UserUUID == userUUID && x.ActiveAt(t) {
			return x.Reason, true, nil
		}
	}
	return "", false, nil
}
