package policy

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for a user the projection does not know.
var ErrNotFound = errors.New("not found")

// Store is the policy service's own data: its projection of each site's users, built only
// from events (login records and roster syncs), so replaying the streams rebuilds it.
type Store interface {
	// RecordLogin moves a user's last login forward, never back (order, duplicates and
	// replays change nothing), creating the user if the roster has not been synced yet.
	// It reports whether the last login moved. It also moves the site's LastFeedAt forward.
	RecordLogin(ctx context.Context, site, userUUID, username string, at time.Time) (bool, error)
	// RecordActivity moves the user's last activity forward like RecordLogin, for what is
	// not a login from the site's feed (a reactivation's fresh grace period): the site's
	// feed health does not move, so it cannot hide a silent login hook.
	RecordActivity(ctx context.Context, site, userUUID, username string, at time.Time) (bool, error)
	// SyncUser stores the roster facts of a user, keeping the recorded last login.
	SyncUser(ctx context.Context, u User) error
	// User returns one user of a site, or ErrNotFound.
	User(ctx context.Context, site, userUUID string) (User, error)
	// SetRetired records that OpenMRS retired or unretired a user (from the actuator's events),
	// so the projection need not wait for the next roster sync; it reports whether the user
	// is known. The roster sync stays the authority and overwrites it.
	SetRetired(ctx context.Context, site, userUUID string, retired bool) (bool, error)
	// DecisionStore keeps what the decision engine needs between ticks (decisions.go).
	DecisionStore
	// CensusStore counts the site's users for the admin overview (census.go).
	CensusStore
	// UpcomingStore lists the site's planned deactivations, a page at a time (upcoming.go).
	UpcomingStore
	Close() error
}
