package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/policy"
)

// Approval is what approving a held batch did.
type Approval struct {
	// Released lists the users whose deactivation was requested.
	Released []string
	// Skipped maps the users left out to why: they logged in, were exempted or retired, or
	// their plan changed since the batch was held.
	Skipped map[string]string
}

// ApproveHeld releases a held batch: it publishes exactly the deactivation requests the tick
// held (the same events, the same ids), re-checking each user first, and records the
// approval. Approving twice, or a rejected batch, is refused with policy.ErrNotPending.
func (p *Policy) ApproveHeld(ctx context.Context, site, batchID, by string) (Approval, error) {
	return p.engine.approveHeld(ctx, site, batchID, by)
}

// RejectHeld refuses a held batch: nothing of it is requested, and its users return to due
// with a new deactivation day the site's rejection_cooloff after the rejection. They are
// warned afresh for that day and proposed again on it, through the guard again, unless
// they log in or are protected first. A user whose plan changed since the batch was held
// keeps the newer plan. It is recorded with reason in the history, per user with the new day.
func (p *Policy) RejectHeld(ctx context.Context, site, batchID, by, reason string) error {
	return p.engine.rejectHeld(ctx, site, batchID, by, reason)
}

// HeldBatches lists a site's held batches with status ("" for all), newest first.
func (p *Policy) HeldBatches(ctx context.Context, site string, status policy.HeldStatus) ([]policy.HeldBatch, error) {
	return p.store.HeldBatches(ctx, site, status)
}

func (e *engine) approveHeld(ctx context.Context, site, batchID, by string) (Approval, error) {
	if by == "" {
		return Approval{}, errors.New("approve held batch: who approves is required")
	}
	b, err := e.store.HeldBatch(ctx, site, batchID)
	if err != nil {
		return Approval{}, fmt.Errorf("approve held batch %s of %s: %w", batchID, site, err)
	}
	if b.Status != policy.HeldPending {
		return Approval{}, fmt.Errorf("approve held batch %s of %s (%s): %w", batchID, site, b.Status, policy.ErrNotPending)
	}
	ss, err := e.store.SiteState(ctx, site)
	if err != nil {
		return Approval{}, err
	}
	ex, err := e.store.Exemptions(ctx, site)
	if err != nil {
		return Approval{}, err
	}
	now := e.now().UTC()
	a := Approval{Skipped: map[string]string{}}
	var msgs []outMsg
	var history []policy.HistoryEntry
	for _, r := range b.Requests {
		why, err := e.stillDue(ctx, site, r, ex, ss.LastTick, now)
		if err != nil {
			return Approval{}, err
		}
		if why != "" {
			a.Skipped[r.UserUUID] = why
			history = append(history, policy.HistoryEntry{Site: site, UserUUID: r.UserUUID, Kind: policy.HistoryApprovalSkipped, At: now,
				PolicyVersion: r.PolicyVersion, By: by, Reason: why, EventID: r.DecisionID, BatchID: batchID})
			continue
		}
		ev, err := requestEvent(site, r, false)
		if err != nil {
			return Approval{}, err
		}
		msgs = append(msgs, outMsg{subject: e.ns.DeactivationRequested(site), ev: ev})
		a.Released = append(a.Released, r.UserUUID)
		history = append(history, policy.HistoryEntry{Site: site, UserUUID: r.UserUUID, Kind: policy.HistoryReleased, At: now,
			PolicyVersion: r.PolicyVersion, By: by, Reason: r.Reason, EventID: r.DecisionID, BatchID: batchID})
	}
	history = append([]policy.HistoryEntry{{Site: site, Kind: policy.HistoryApproved, At: now, By: by, BatchID: batchID,
		Reason: fmt.Sprintf("%d of %d held deactivations released", len(a.Released), len(b.Requests))}}, history...)
	// Published first: if the record fails, approving again publishes the same ids, dropped
	// as duplicates, and records it then.
	if err := e.pub.publish(ctx, msgs); err != nil {
		return Approval{}, fmt.Errorf("approve held batch %s of %s: %w", batchID, site, err)
	}
	if err := e.store.DecideHeld(ctx, site, batchID, policy.HeldApproved, by, now, history, nil); err != nil {
		return Approval{}, fmt.Errorf("approve held batch %s of %s: %w", batchID, site, err)
	}
	e.log.Info("held batch approved", zap.String("site", site), zap.String("batch_id", batchID), zap.String("by", by),
		zap.Int("released", len(a.Released)), zap.Int("skipped", len(a.Skipped)))
	return a, nil
}

// stillDue says why a held request must not be released any more ("" when it still must):
// time has passed since the tick held it, and nobody is retired on stale facts.
func (e *engine) stillDue(ctx context.Context, site string, r policy.HeldRequest, ex []policy.Exemption, lastTick, now time.Time) (string, error) {
	u, err := e.store.User(ctx, site, r.UserUUID)
	if errors.Is(err, policy.ErrNotFound) {
		return "no longer in the roster", nil
	}
	if err != nil {
		return "", err
	}
	if u.Retired {
		return "already retired", nil
	}
	if u.LastLoginAt != nil && u.LastLoginAt.After(r.LastActivity) {
		return "logged in at " + u.LastLoginAt.UTC().Format(time.RFC3339), nil
	}
	for _, x := range ex {
		if x.UserUUID == u.UUID && (x.ActiveAt(now) || x.ActiveAt(lastTick)) {
			return "exempted by " + x.By + ": " + x.Reason, nil
		}
	}
	st, err := e.store.UserState(ctx, site, r.UserUUID)
	if err != nil {
		return "", err
	}
	if !st.Requested || policy.DecisionID(site, r.UserUUID, st) != r.DecisionID {
		return "the plan changed since the batch was held", nil
	}
	return "", nil
}

// rejectHeld decides the batch rejected and returns its users to due (see RejectHeld). A
// rejection used to leave them requested for the rest of their cycle: never proposed again
// unless they logged in and went dormant anew, an exemption nobody chose.
func (e *engine) rejectHeld(ctx context.Context, site, batchID, by, reason string) error {
	if by == "" {
		return errors.New("reject held batch: who rejects is required")
	}
	b, err := e.store.HeldBatch(ctx, site, batchID)
	if err != nil {
		return fmt.Errorf("reject held batch %s of %s: %w", batchID, site, err)
	}
	if b.Status != policy.HeldPending {
		return fmt.Errorf("reject held batch %s of %s (%s): %w", batchID, site, b.Status, policy.ErrNotPending)
	}
	coolOff, err := e.rejectionCoolOff(ctx, site)
	if err != nil {
		return fmt.Errorf("reject held batch %s of %s: %w", batchID, site, err)
	}
	now := e.now().UTC()
	// Counted from the later of the rejection and the tick that held the batch, so the new
	// day always lies after the held one (and gets a decision id of its own).
	from := now
	if b.Tick.After(from) {
		from = b.Tick
	}
	again := from.Add(coolOff).Truncate(time.Microsecond)
	history := []policy.HistoryEntry{{Site: site, Kind: policy.HistoryRejected, At: now, By: by, BatchID: batchID, Reason: reason}}
	var due []policy.DueAgain
	for _, r := range b.Requests {
		st, err := e.store.UserState(ctx, site, r.UserUUID)
		if err != nil {
			return fmt.Errorf("reject held batch %s of %s: %w", batchID, site, err)
		}
		why := reason + "; the plan changed since the batch was held, so it is kept"
		if policy.StillHeld(site, r.UserUUID, st, r.DecisionID) {
			next := st
			next.Requested, next.Warned, next.DeactivateOn = false, 0, again
			due = append(due, policy.DueAgain{UserUUID: r.UserUUID, DecisionID: r.DecisionID, State: next})
			why = fmt.Sprintf("%s; due again: warned afresh and proposed no sooner than %s (rejection_cooloff)", reason, again.Format(time.RFC3339))
		}
		history = append(history, policy.HistoryEntry{Site: site, UserUUID: r.UserUUID, Kind: policy.HistoryRejected, At: now,
			PolicyVersion: r.PolicyVersion, By: by, Reason: why, EventID: r.DecisionID, BatchID: batchID})
	}
	if err := e.store.DecideHeld(ctx, site, batchID, policy.HeldRejected, by, now, history, due); err != nil {
		return fmt.Errorf("reject held batch %s of %s: %w", batchID, site, err)
	}
	e.log.Info("held batch rejected", zap.String("site", site), zap.String("batch_id", batchID), zap.String("by", by),
		zap.Int("due_again", len(due)), zap.Time("proposed_no_sooner_than", again))
	return nil
}

// rejectionCoolOff is the site's rejection_cooloff under its effective policy now. When
// OpenMRS cannot be reached it comes from the last policy a tick loaded or, with none, from
// the sites file: a rejection is the safe direction and need not wait for OpenMRS.
func (e *engine) rejectionCoolOff(ctx context.Context, site string) (time.Duration, error) {
	s, ok := e.site(site)
	if !ok {
		return 0, fmt.Errorf("site %q is not configured", site)
	}
	l, err := e.loadPolicy(ctx, s)
	if err == nil {
		return l.Policy.RejectionCoolOff, nil
	}
	if !errors.Is(err, errUnreachable) {
		return 0, err
	}
	pol, from, ferr := e.lastOrFile(s)
	if ferr != nil {
		return 0, ferr
	}
	e.log.Warn("OpenMRS unreachable: the rejection's cool-off comes from the "+from, zap.String("site", site), zap.Error(err))
	return pol.RejectionCoolOff, nil
}

// lastOrFile is the policy a step outside a tick (a rejection, a failure) falls back on when
// the site's OpenMRS settings cannot be used: the last one a tick loaded, else the sites
// file's alone. from names which, for the log.
func (e *engine) lastOrFile(s siteconfig.Site) (pol policy.Policy, from string, err error) {
	e.mu.Lock()
	last := e.policies[s.ID]
	e.mu.Unlock()
	if last != nil {
		return last.loaded.Policy, "last good policy", nil
	}
	l, err := policy.Load(&s.Policy, nil)
	if err != nil {
		return policy.Policy{}, "", fmt.Errorf("policy of site %s: %w", s.ID, err)
	}
	return l.Policy, "sites file", nil
}
