package actuator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs"
)

// ErrUnknownUser is returned by Reactivate for a uuid OpenMRS does not know.
var ErrUnknownUser = errors.New("no such user in OpenMRS")

// Reactivator unretires users. The admin page and `dormant reactivate` use it; it needs no
// consumer, so an operator's command can build one without running the actuator.
type Reactivator struct {
	JS    jetstream.JetStream
	NS    events.Namespace
	Store *Store
	// Clients are the sites' OpenMRS clients by site id.
	Clients map[string]OpenMRS
	Now     func() time.Time
}

// Reactivate unretires a user in OpenMRS, records who did it and why, and emits
// dormant.user.reactivated. That event is also the user's fresh grace period: the policy
// projection folds it in as activity (see ActivityFeed), so the next tick measures the user
// from the reactivation instead of retiring them again. A user who is not retired is still
// recorded and announced: an admin reactivating an active account means "keep it".
func (r *Reactivator) Reactivate(ctx context.Context, site, userUUID, by, reason string) (Reactivation, error) {
	return r.ReactivateRequested(ctx, site, userUUID, by, reason, "")
}

// ReactivateRequested is Reactivate for a user's reactivation request: the event names the
// request (request_id) it answers; requestID "" is a reactivation nobody asked for.
func (r *Reactivator) ReactivateRequested(ctx context.Context, site, userUUID, by, reason, requestID string) (Reactivation, error) {
	by, reason = strings.TrimSpace(by), strings.TrimSpace(reason)
	if by == "" || reason == "" {
		return Reactivation{}, errors.New("reactivate: who and why are both required")
	}
	c, ok := r.Clients[site]
	if !ok {
		return Reactivation{}, fmt.Errorf("reactivate: site %q has no OpenMRS connection configured", site)
	}
	u, err := c.User(ctx, userUUID)
	if openmrs.IsNotFound(err) {
		return Reactivation{}, fmt.Errorf("reactivate %s at %s: %w", userUUID, site, ErrUnknownUser)
	}
	if err != nil {
		return Reactivation{}, fmt.Errorf("reactivate %s at %s: %w", userUUID, site, err)
	}
	if u.Retired {
		if err := c.UnretireUser(ctx, userUUID); err != nil {
			return Reactivation{}, fmt.Errorf("reactivate %s at %s: %w", userUUID, site, err)
		}
	}
	now := time.Now().UTC()
	if r.Now != nil {
		now = r.Now().UTC()
	}
	rec := Reactivation{ID: randomID(), Site: site, UserUUID: userUUID, Username: u.Username, By: by, Reason: reason, WasRetired: u.Retired, ReactivatedAt: now}
	if err := r.Store.AddReactivation(ctx, rec); err != nil {
		return Reactivation{}, err
	}
	data := &events.UserReactivated{UserUUID: userUUID, Username: u.Username, By: by, Reason: reason, RequestID: requestID}
	ev, err := events.New(events.SourceFor("actuator", site), site, data, rec.ID, now)
	if err != nil {
		return Reactivation{}, err
	}
	msg, err := events.ToNATS(r.NS.Reactivated(site), ev)
	if err != nil {
		return Reactivation{}, err
	}
	if _, err := r.JS.PublishMsg(ctx, msg); err != nil {
		// OpenMRS and the record already say reactivated; without the event the grace period
		// is missing, so the caller must hear about it (and may simply run it again).
		return rec, fmt.Errorf("reactivated %s at %s, but announcing it failed (run it again): %w", userUUID, site, err)
	}
	return rec, nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
