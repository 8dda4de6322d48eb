package service

import (
	"context"

	"github.com/dormant-dev/dormant/services/policy/roster"
)

// addRosterSync adds the roster sync of every site with an OpenMRS connection: a full sync
// at start and every RosterSyncInterval, publishing dormant.user.synced for the users that
// changed, which this service's records consumer then folds into the projection.
func (p *Policy) addRosterSync(ctx context.Context, d Deps) error {
	store, err := roster.OpenStore(ctx, d.DB)
	if err != nil {
		return err
	}
	if p.opts.RosterSyncInterval == 0 {
		p.log.Info("roster sync is off (DORMANT_ROSTER_SYNC_INTERVAL=0)")
		return nil
	}
	metrics := roster.NewMetrics(d.Registry)
	log := p.log.Named("roster")
	sched := &roster.Schedule{Interval: p.opts.RosterSyncInterval, Log: log}
	for _, s := range d.Sites.Sites {
		c := p.openmrs[s.ID]
		if c == nil {
			continue // openmrsClients has said why
		}
		// One sync per site and cluster, in the leading replica; its reads and publishes
		// check the lease, so a leader that lost it stops within a page.
		src := leaseRoster{c: c, lease: p.leader}
		js := leaseJS{JetStream: d.JS, lease: p.leader}
		sched.Syncers = append(sched.Syncers, roster.NewSyncer(s.ID, src, js, d.NS, store, log, metrics, roster.Options{PageSize: p.opts.RosterPageSize}))
	}
	p.singletons = append(p.singletons, sched)
	return nil
}
