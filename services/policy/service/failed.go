package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/policy"
)

// failures takes the actuator's dormant.user.deactivation.failed to the engine; the activity
// feed (actuator.ActivityFeed.Failures) calls it, in every replica like the rest of the
// projection.
//
// The actuator can fail a request (at once, when no retry can cure it) before the tick that
// published it has committed the plan: the failure then waits (the feed redelivers it) until
// the decision is in the history. A decision that never gets there (the tick crashed after
// publishing and its redelivery decided otherwise) must not stall the feed, whose
// reactivations wait behind it: after wait the failure is recorded as kept.
type failures struct {
	engine *engine
	wait   time.Duration
	mu     sync.Mutex
	// waiting holds when each failure was first found ahead of its decision.
	waiting map[string]time.Time
}

func newFailures(e *engine, ackWait time.Duration) *failures {
	// Two ack waits: the tick's redelivery after a crash, then its decision and commit.
	return &failures{engine: e, wait: 2*ackWait + time.Minute, waiting: map[string]time.Time{}}
}

func (f *failures) DeactivationFailed(ctx context.Context, site string, at time.Time, eventID string, d *events.DeactivationFailed) error {
	f.mu.Lock()
	first, seen := f.waiting[eventID]
	f.mu.Unlock()
	err := f.engine.deactivationFailed(ctx, site, at, eventID, d, seen && time.Since(first) >= f.wait)
	f.mu.Lock()
	defer f.mu.Unlock()
	if errors.Is(err, policy.ErrNotCommitted) {
		if !seen {
			f.waiting[eventID] = time.Now()
		}
		return fmt.Errorf("failed deactivation %s of %s arrived before its decision committed; will retry: %w", d.DecisionID, site, err)
	}
	delete(f.waiting, eventID)
	return err
}

// deactivationFailed returns the user of a failed deactivation to due: requested cleared, the
// deactivation day moved failure_retry_after past the later of the failure and the failed
// day, warnings kept as sent (the user was warned for the failed day; the failure is not
// theirs to be warned about again). On that day the deactivation is proposed again under a
// new decision id, through the guards and the actuator's checks again. It applies only while
// the stored state is still the failed request's plan (a login, a protection or a policy
// change since wins), and records one failure_recorded entry either way, once per event.
//
// Left as it was, a failed user stayed requested for the rest of the cycle: an account that
// should be retired stayed live, and nothing reminded anyone.
//
// Non-retryable failures (401/403, 404, no OpenMRS connection) wait the same delay: each
// needs a person (a privilege, a password, an exemption for an account OpenMRS no longer
// has), the retry carries the retirement out by itself once they have acted, and each
// failure reminds the admins again (the notifier's alert) until they do.
//
// With settle false, a failure whose decision is not in the history yet changes nothing and
// returns policy.ErrNotCommitted; with settle true it is recorded as kept.
func (e *engine) deactivationFailed(ctx context.Context, site string, at time.Time, eventID string, d *events.DeactivationFailed, settle bool) error {
	if d.UserUUID == "" || d.DecisionID == "" {
		e.log.Warn("a failed deactivation without a user or decision is ignored", zap.String("site", site), zap.String("event", eventID))
		return nil
	}
	if _, ok := e.site(site); !ok {
		// Not for this deployment (a site removed from the file): nothing to return to due.
		e.log.Warn("failed deactivation for a site not configured; ignored", zap.String("site", site), zap.String("event", eventID))
		return nil
	}
	pol, err := e.failurePolicy(ctx, site)
	if err != nil {
		return err
	}
	st, err := e.store.UserState(ctx, site, d.UserUUID)
	if err != nil {
		return fmt.Errorf("failed deactivation %s: %w", d.DecisionID, err)
	}
	at = at.UTC()
	from := at
	if st.DeactivateOn.After(from) {
		from = st.DeactivateOn
	}
	// Counted from the failure (the event's time, so a redelivery computes the same day), and
	// never before the failed day, so the new day differs and gives a new decision id.
	again := from.Add(pol.FailureRetryAfter).Truncate(time.Microsecond)
	next := st
	next.Requested, next.DeactivateOn = false, again

	retry := "retryable"
	if !d.Retryable {
		retry = "not retryable: needs a person"
	}
	what := fmt.Sprintf("the actuator gave up on %s after %d attempts (%s): %s", d.DecisionID, d.Attempts, retry, d.Error)
	entry := policy.HistoryEntry{Site: site, UserUUID: d.UserUUID, At: at, PolicyVersion: pol.Version(), By: byPolicy}
	applied, kept := entry, entry
	applied.Reason = fmt.Sprintf("%s; due again: proposed no sooner than %s (failure_retry_after)", what, again.Format(time.RFC3339))
	kept.Reason = what + "; the plan changed since the request (a login, a protection, a policy change), so it is kept"
	out, err := e.store.RecordFailure(ctx, policy.DeactivationFailure{Site: site, EventID: eventID,
		Due: policy.DueAgain{UserUUID: d.UserUUID, DecisionID: d.DecisionID, State: next}, Applied: applied, Kept: kept, Settle: settle})
	if errors.Is(err, policy.ErrNotCommitted) {
		return err
	}
	if err != nil {
		return fmt.Errorf("failed deactivation %s: %w", d.DecisionID, err)
	}
	if e.metrics != nil {
		e.metrics.failures.WithLabelValues(site, string(out)).Inc()
	}
	e.log.Info("failed deactivation recorded", zap.String("site", site), zap.String("decision", d.DecisionID), zap.String("user", d.UserUUID),
		zap.String("outcome", string(out)), zap.Bool("retryable", d.Retryable), zap.Time("proposed_no_sooner_than", again))
	return nil
}

// failurePolicy is the site's policy for a failure: the one the last tick loaded, else the
// effective policy read now, else the sites file. Failures come in bursts when OpenMRS is
// down, and reading its settings then takes the client's every retry: once per failure that
// would stall the actions feed (reactivations wait behind it) for minutes. The tick's policy
// is at most a clock period old, which is fresh enough for a retry delay. It never refuses.
func (e *engine) failurePolicy(ctx context.Context, site string) (policy.Policy, error) {
	e.mu.Lock()
	last := e.policies[site]
	e.mu.Unlock()
	if last != nil {
		return last.loaded.Policy, nil
	}
	s, _ := e.site(site)
	l, err := e.loadPolicy(ctx, s)
	if err == nil {
		return l.Policy, nil
	}
	pol, from, ferr := e.lastOrFile(s)
	if ferr != nil {
		return policy.Policy{}, errors.Join(err, ferr)
	}
	e.log.Warn("the failure's retry delay comes from the "+from, zap.String("site", site), zap.Error(err))
	return pol, nil
}
