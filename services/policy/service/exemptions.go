package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// AddExemption protects a user from now until until (nil: until removed), replacing any
// exemption the user had. Pending warnings and the deactivation are cancelled at the next
// tick; when the exemption ends, the user is warned afresh before anything happens.
func (p *Policy) AddExemption(ctx context.Context, site, userUUID, reason, by string, until *time.Time) error {
	now := p.engine.now().UTC()
	if strings.TrimSpace(reason) == "" || strings.TrimSpace(by) == "" {
		return errors.New("add exemption: a reason and who grants it are required")
	}
	if until != nil && !until.After(now) {
		return fmt.Errorf("add exemption: expiry %s is not in the future", until.Format(time.RFC3339))
	}
	if _, err := p.store.User(ctx, site, userUUID); err != nil {
		return fmt.Errorf("add exemption for %s at %s: %w", userUUID, site, err)
	}
	what := "until removed"
	if until != nil {
		what = "until " + until.UTC().Format(time.RFC3339)
	}
	return p.store.PutExemption(ctx, site, policy.Exemption{UserUUID: userUUID, Reason: reason, By: by, Until: until, CreatedAt: now},
		policy.HistoryEntry{Site: site, UserUUID: userUUID, Kind: policy.HistoryExemptionAdded, At: now, By: by, Reason: what + ": " + reason})
}

// EndExemption makes a user's exemption expire now; the history keeps that it existed.
func (p *Policy) EndExemption(ctx context.Context, site, userUUID, by string) error {
	now := p.engine.now().UTC()
	return p.store.EndExemption(ctx, site, userUUID, now,
		policy.HistoryEntry{Site: site, UserUUID: userUUID, Kind: policy.HistoryExemptionEnded, At: now, By: by})
}

// RemoveExemption deletes a user's exemption, as if it had never been granted (for one made
// by mistake); the history records the removal.
func (p *Policy) RemoveExemption(ctx context.Context, site, userUUID, by string) error {
	now := p.engine.now().UTC()
	return p.store.RemoveExemption(ctx, site, userUUID,
		policy.HistoryEntry{Site: site, UserUUID: userUUID, Kind: policy.HistoryExemptionRemoved, At: now, By: by})
}
