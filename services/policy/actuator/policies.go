package actuator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// Policies reads a site's effective policy at actuation time: the sites file's block with the
// defaults, core's users.numberOfDaysToRetire and the site's dormant.* OpenMRS global
// properties laid over it, exactly as the decision engine loads it on a tick. The guard takes
// its never_touch names and exempt roles from it, so a protection set only as a global
// property stops a retirement here too, whatever the request says.
type Policies interface {
	Policy(ctx context.Context, site string) (policy.Policy, error)
}

// PoliciesFunc adapts a function to Policies.
type PoliciesFunc func(ctx context.Context, site string) (policy.Policy, error)

// Policy implements Policies.
func (f PoliciesFunc) Policy(ctx context.Context, site string) (policy.Policy, error) {
	return f(ctx, site)
}

// PolicyMaxAge is how long a site's effective policy, once read, serves the guard before it is
// read again. A batch of retirements then costs OpenMRS two settings reads per half minute,
// not two per retirement, and a protection added as a global property reaches the guard within
// half a minute (the engine itself only sees it on its next tick). A failed read is never
// covered by an older policy: the retirement waits (see guardFor).
const PolicyMaxAge = 30 * time.Second

// errGuardUnavailable marks a request held because the site's effective policy could not be read.
var errGuardUnavailable = errors.New("the site's effective policy cannot be read, so the guard cannot be checked; not retiring")

// policyCache keeps each site's last effective policy read for PolicyMaxAge.
type policyCache struct {
	src    Policies
	maxAge time.Duration
	mu     sync.Mutex
	sites  map[string]cachedPolicy
}

type cachedPolicy struct {
	read time.Time
	pol  policy.Policy
}

// guardFor returns the guard to check a request against: the site's own (acting user and the
// file's lists) when no Policies source is wired, otherwise the acting user with the lists of
// the effective policy. When that policy cannot be read the error wraps errGuardUnavailable:
// the request is held, never judged by the file's lists alone, which may be looser than what
// the decision was taken under.
func (a *Actuator) guardFor(ctx context.Context, s *siteState) (Guard, error) {
	if a.policies == nil {
		return s.Guard, nil
	}
	pol, err := a.policies.get(ctx, s.ID, time.Now())
	if err != nil {
		a.metrics.guardUnavailable.WithLabelValues(s.ID).Inc()
		return Guard{}, fmt.Errorf("%w: %w", errGuardUnavailable, err)
	}
	return GuardFor(s.Guard.ActingUser, pol), nil
}

// get reads through the cache; now is the wall clock (the cache ages in real time even when
// tests simulate days on the actuator's clock).
func (c *policyCache) get(ctx context.Context, site string, now time.Time) (policy.Policy, error) {
	c.mu.Lock()
	e, ok := c.sites[site]
	c.mu.Unlock()
	if ok && now.Sub(e.read) < c.maxAge && !now.Before(e.read) {
		return e.pol, nil
	}
	pol, err := c.src.Policy(ctx, site)
	if err != nil {
		return policy.Policy{}, err
	}
	c.mu.Lock()
	c.sites[site] = cachedPolicy{read: now, pol: pol}
	c.mu.Unlock()
	return pol, nil
}
