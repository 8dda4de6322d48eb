package notifier

import (
	"context"
	"errors"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/policy"
)

// KindReactivationRequest is the email to a site's admins about a reactivation request.
const KindReactivationRequest = "reactivation"

// UserFinder finds a user of the projection by username (policy.Store does). When the
// Directory is one, requests for usernames the site does not have mail nobody: anyone can
// fill in the public form, and the admins' mailboxes are not theirs to fill.
type UserFinder interface {
	UserByUsername(ctx context.Context, site, username string) (policy.User, error)
}

// ReactivationData is what the reactivation request templates receive.
type ReactivationData struct {
	Site, RequestID, Username, Name, Note, ClientIP string
	RequestedAt                                     time.Time
	// Retired says whether the projection holds the account retired.
	Retired bool
}

func (n *Notifier) reactivationRequested(ctx context.Context, s *Site, ev cloudevents.Event, d *events.ReactivationRequested) error {
	if len(s.AdminEmails) == 0 || s.Mailer == nil {
		return nil
	}
	data := ReactivationData{Site: s.ID, RequestID: d.RequestID, Username: d.Username, Name: d.Username, Note: d.Note, ClientIP: d.ClientIP, RequestedAt: d.RequestedAt}
	if f, ok := n.dir.(UserFinder); ok {
		u, err := f.UserByUsername(ctx, s.ID, d.Username)
		if errors.Is(err, policy.ErrNotFound) {
			n.log.Info("reactivation request for an unknown username: listed in the admin queue, not mailed", zap.String("site", s.ID), zap.String("request", d.RequestID))
			return nil
		}
		if err != nil {
			return err
		}
		data.Retired = u.Retired
		if name := u.GivenName + " " + u.FamilyName; name != " " {
			data.Name = name
		}
	}
	return n.mail(ctx, s, ev.ID()+":admins", KindReactivationRequest, s.AdminEmails, data)
}
