package notifier

import (
	"context"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/policy/handover"
)

// Handover says what a user still holds in OpenMRS (*handover.Reader): the last warning to
// the user and the admins' digest list it, so the work is handed over before the account
// goes.
type Handover interface {
	Facts(ctx context.Context, site, userUUID string) (handover.Facts, error)
}

// facts returns what the user holds, or nil when there is no Handover or it failed: a
// notification is never held up by it (the failure is logged).
func (n *Notifier) facts(ctx context.Context, site, userUUID string) *handover.Facts {
	if n.handover == nil || userUUID == "" {
		return nil
	}
	f, err := n.handover.Facts(ctx, site, userUUID)
	if err != nil {
		n.log.Warn("what the user holds in OpenMRS could not be read; the notification goes without it", zap.String("site", site), zap.String("user", userUUID), zap.Error(err))
		return nil
	}
	return &f
}

// lastWarning reports whether w is the user's last warning before the deactivation day.
// Without a LastWarning function, the last warning is the one a day or less before.
func (n *Notifier) lastWarning(ctx context.Context, site string, w *events.UserWarned) bool {
	if n.isLastWarning != nil {
		return n.isLastWarning(ctx, site, w)
	}
	return w.DaysLeft <= 1
}
