package service

import (
	"context"
	"fmt"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/actuator"
	"github.com/dormant-dev/dormant/services/policy/audit"
)

// Audit builds the audit evidence of a site for the period [from, to): see package audit.
func (p *Policy) Audit(ctx context.Context, site string, from, to time.Time) (audit.Report, error) {
	return auditReport(ctx, p.engine, p.actuatorStore, site, from, to, p.now())
}

// AuditDeps are what Audit needs outside a running service (the operators' command).
type AuditDeps = PreviewDeps

// Audit is Policy.Audit for a command that runs without the service: it opens the stores on
// d.DB and reads the sites' OpenMRS settings itself (the policy in force is then the
// effective one; when OpenMRS cannot be reached, the report says so in its settings).
func Audit(ctx context.Context, d AuditDeps, site string, from, to, now time.Time) (audit.Report, error) {
	store, err := OpenStore(ctx, d.DB)
	if err != nil {
		return audit.Report{}, err
	}
	defer store.Close()
	acts, err := actuator.OpenStore(ctx, d.DB)
	if err != nil {
		return audit.Report{}, err
	}
	defer acts.Close()
	clients, err := openmrsClients(d.Sites, d.Log)
	if err != nil {
		return audit.Report{}, err
	}
	e := newEngine(store, d.Log, d.Sites.Sites, settingsOf(clients))
	return auditReport(ctx, e, acts, site, from, to, now)
}

// auditReport gathers the facts: the whole history (a case's first warning may precede the
// period), every actuator record and reactivation, and the accounts of the projection with
// their current threshold and any protection.
func auditReport(ctx context.Context, e *engine, acts *actuator.Store, site string, from, to, now time.Time) (audit.Report, error) {
	s, ok := e.site(site)
	if !ok {
		return audit.Report{}, fmt.Errorf("audit: site %q is not configured", site)
	}
	if !from.Before(to) {
		return audit.Report{}, fmt.Errorf("audit: the period must end after it starts (%s, %s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	f := audit.Facts{Site: site, From: from, To: to, GeneratedAt: now}
	asOf := to
	if now.Before(asOf) {
		asOf = now
	}
	l, err := e.loadPolicy(ctx, s)
	if err != nil {
		return audit.Report{}, fmt.Errorf("audit: %w", err)
	}
	f.Policy.Version = l.Policy.Version()
	values := l.Policy.Values()
	for _, k := range policy.Keys {
		src := string(l.Provenance[k])
		if src == "" {
			src = string(policy.SourceDefault)
		}
		f.Policy.Settings = append(f.Policy.Settings, audit.Setting{Key: k, Value: values[k], Source: src})
	}
	if f.History, err = e.store.History(ctx, site, ""); err != nil {
		return audit.Report{}, err
	}
	recs, err := acts.Decisions(ctx, site, "", 1<<30)
	if err != nil {
		return audit.Report{}, err
	}
	for _, r := range recs {
		f.Actions = append(f.Actions, audit.Action{DecisionID: r.DecisionID, UserUUID: r.UserUUID, Username: r.Username, Outcome: string(r.Outcome), Detail: r.Detail, At: r.RecordedAt})
	}
	reacts, err := acts.SiteReactivations(ctx, site, 1<<30)
	if err != nil {
		return audit.Report{}, err
	}
	for _, r := range reacts {
		f.Reactivations = append(f.Reactivations, audit.Reactivation{UserUUID: r.UserUUID, Username: r.Username, By: r.By, Reason: r.Reason, At: r.ReactivatedAt})
	}

	// Protections are what the policy says now, evaluated as if enabled: a site switched off
	// still shows which of its accounts the policy would leave alone.
	pol := l.Policy
	pol.Enabled = true
	rules, err := policy.Compile(pol)
	if err != nil {
		return audit.Report{}, fmt.Errorf("audit: policy of %s: %w", site, err)
	}
	ss, err := e.store.SiteState(ctx, site)
	if err != nil {
		return audit.Report{}, err
	}
	baseline := ss.Baseline
	if baseline.IsZero() {
		baseline = asOf
	}
	ex, err := e.store.Exemptions(ctx, site)
	if err != nil {
		return audit.Report{}, err
	}
	err = e.store.EachUser(ctx, site, func(c policy.Candidate) error {
		u := c.User
		if u.Retired {
			return nil
		}
		a := audit.Account{UUID: u.UUID, Username: u.Username, Rule: policy.RuleInactiveAfter, LastActivity: policy.LastActivity(u, baseline)}
		a.Threshold = a.LastActivity.Add(pol.InactiveAfter)
		if rules.IsDemo(u) && u.CreatedAt.Add(pol.Demo.MaxAge).Before(a.Threshold) {
			a.Rule, a.LastActivity, a.Threshold = policy.RuleDemoMaxAge, u.CreatedAt, u.CreatedAt.Add(pol.Demo.MaxAge)
		}
		if out, _ := rules.Evaluate(u, c.State, ex, baseline, asOf); out.Kind == policy.KindProtected {
			a.Protection = out.Reason
		}
		f.Accounts = append(f.Accounts, a)
		return nil
	})
	if err != nil {
		return audit.Report{}, err
	}
	return audit.Build(f), nil
}
