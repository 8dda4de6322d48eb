package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
)

// Preview is what a tick would decide for one user.
type Preview struct {
	UserUUID string
	Username string
	// Kind is policy.KindWarn or policy.KindDeactivate.
	Kind         policy.Kind
	Rule         string
	Reason       string
	LastActivity time.Time
	DeactivateOn time.Time
	// DaysLeft is set for warnings.
	DaysLeft int
	// WouldBe: the policy is in dry run, so the decision would only be shown.
	WouldBe bool
}

// WhatIf lists who a tick at at would warn and whose deactivation it would request, and why,
// under the site's effective policy or override, without changing anything: it evaluates
// every user of the site with the states the policy keeps. The policy is previewed as
// enabled, so an admin can try it before turning it on. Guards are not applied: a preview
// shows the whole batch a guard would hold.
func (p *Policy) WhatIf(ctx context.Context, site string, at time.Time, override *policy.Policy) ([]Preview, error) {
	return p.engine.whatIf(ctx, site, at, override)
}

// PreviewDeps are what WhatIf needs outside a running service (the operators' command).
type PreviewDeps struct {
	DB    *sqldb.DB
	Sites *siteconfig.File
	Log   *zap.Logger
}

// WhatIf is Policy.WhatIf for a command that runs without the service: it opens the store on
// d.DB (applying its migrations) and reads the sites' OpenMRS settings itself.
func WhatIf(ctx context.Context, d PreviewDeps, site string, at time.Time, override *policy.Policy) ([]Preview, error) {
	store, err := OpenStore(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	clients, err := openmrsClients(d.Sites, d.Log)
	if err != nil {
		return nil, err
	}
	e := newEngine(store, d.Log, d.Sites.Sites, settingsOf(clients))
	return e.whatIf(ctx, site, at, override)
}

func (e *engine) whatIf(ctx context.Context, site string, at time.Time, override *policy.Policy) ([]Preview, error) {
	s, ok := e.site(site)
	if !ok {
		return nil, fmt.Errorf("what-if: site %q is not configured", site)
	}
	at = at.UTC().Truncate(time.Microsecond)
	var l policy.Loaded
	if override != nil {
		l = withActingUser(policy.Loaded{Policy: *override}, s)
	} else {
		var err error
		if l, err = e.loadPolicy(ctx, s); err != nil {
			return nil, err
		}
	}
	l.Policy.Enabled = true
	rules, err := policy.Compile(l.Policy)
	if err != nil {
		return nil, fmt.Errorf("what-if policy of %s: %w", site, err)
	}
	ss, err := e.store.SiteState(ctx, site)
	if err != nil {
		return nil, err
	}
	baseline := ss.Baseline
	if baseline.IsZero() {
		baseline = at
	}
	ex, err := e.store.Exemptions(ctx, site)
	if err != nil {
		return nil, err
	}
	var out []Preview
	err = e.store.EachUser(ctx, site, func(c policy.Candidate) error {
		o, _ := rules.Evaluate(c.User, c.State, ex, baseline, at)
		if o.Kind != policy.KindWarn && o.Kind != policy.KindDeactivate {
			return nil
		}
		out = append(out, Preview{UserUUID: c.User.UUID, Username: c.User.Username, Kind: o.Kind, Rule: o.Rule, Reason: o.Reason,
			LastActivity: o.LastActivity, DeactivateOn: o.DeactivateOn, DaysLeft: o.DaysLeft, WouldBe: o.WouldBe})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Preview) int {
		if a.Kind != b.Kind {
			return strings.Compare(string(a.Kind), string(b.Kind)) // deactivate before warn
		}
		if c := a.DeactivateOn.Compare(b.DeactivateOn); c != 0 {
			return c
		}
		return strings.Compare(a.Username, b.Username)
	})
	return out, nil
}
