package service

import (
	"context"
	"errors"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/policy"
)

// Security alert kinds.
const (
	AlertLoginOnDeactivated = "login_attempt_on_deactivated"
	AlertLoginOnDormant     = "login_attempt_on_dormant"
)

// failedLogin raises dormant.security.alert for a failed login on a retired account, or on
// one whose deactivation is requested: someone is trying an account nobody uses. Its id
// derives from the failed login's, so a redelivered record raises no second alert.
func (e *engine) failedLogin(ctx context.Context, site string, ev cloudevents.Event, r *events.LoginFailed) error {
	var u policy.User
	var err error
	if r.UserUUID != "" {
		u, err = e.store.User(ctx, site, r.UserUUID)
	} else {
		u, err = e.store.UserByUsername(ctx, site, r.Username)
	}
	if errors.Is(err, policy.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var kind, detail string
	if u.Retired {
		kind, detail = AlertLoginOnDeactivated, "failed login on a retired account"
	} else {
		st, err := e.store.UserState(ctx, site, u.UUID)
		if err != nil {
			return err
		}
		// Past its due day and warned but not requested is dormant too: a user returned to
		// due after a failed deactivation (failed.go) waits for its retry, not for its owner.
		overdue := st.Warned != 0 && !st.Due.IsZero() && !r.OccurredAt.Before(st.Due)
		if !(st.Requested || overdue) || st.DryRun {
			return nil
		}
		detail = "failed login on an account whose deactivation is requested"
		if !st.Requested {
			detail = "failed login on a dormant account past its due day"
		}
		kind = AlertLoginOnDormant
	}
	detail = fmt.Sprintf("%s (method %s)", detail, r.Method)
	if r.ClientIP != "" {
		detail += " from " + r.ClientIP
	}
	d := &events.SecurityAlert{Kind: kind, Username: truncate(u.Username, 49), OccurredAt: r.OccurredAt, Detail: detail}
	if events.ValidUUID(u.UUID) {
		d.UserUUID = u.UUID
	}
	alert, err := events.New(events.SourceFor("policy", site), site, d, events.DerivedID("security-alert", site, ev.ID()), r.OccurredAt)
	if err != nil {
		return fmt.Errorf("security alert for %s: %w", u.UUID, err)
	}
	return e.pub.publish(ctx, []outMsg{{subject: e.ns.Security(site), ev: alert}})
}
