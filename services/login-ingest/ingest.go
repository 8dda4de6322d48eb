// Package ingest is login-ingest's domain: what a login and a last-login record are, and the
// store that keeps them. It imports no NATS, SQL driver or HTTP.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"
)

// ErrNotFound is returned for a user with no recorded login.
var ErrNotFound = errors.New("no login recorded")

// Login is one successful login of a user at a site.
type Login struct {
	Site, UserUUID, Username, LocationUUID string
	At                                     time.Time
}

// Record is a user's stored last login.
type Record struct {
	Site, UserUUID, Username, LocationUUID string
	LastLoginAt                            time.Time
	// PreviousLoginAt is the last login before LastLoginAt, nil on the first.
	PreviousLoginAt *time.Time
}

// Store keeps the last login of every user.
type Store interface {
	// RecordLogins stores a batch in one transaction. A user's last login only moves forward
	// (the latest wins, whatever the order, duplicates or replays); previous_login_at becomes
	// the old value only when it does move; username and location follow the latest login.
	//
	// It returns one Record for each user of the batch whose stored last login now equals
	// the batch's latest login of that user: it moved, or it already was exactly that. So a
	// batch redelivered after a crash between commit and publish returns the same records
	// again, and the publisher's deterministic event ids let JetStream drop the repeats.
	RecordLogins(ctx context.Context, logins []Login) ([]Record, error)
	// LastLogin returns one user's record, or ErrNotFound.
	LastLogin(ctx context.Context, site, userUUID string) (Record, error)
	Close() error
}

// Precision is what both databases keep of a time. Every time is cut to it before it is
// compared or stored, so that a stored value equals the login it came from on either engine.
const Precision = time.Microsecond

// Coalesce keeps the latest login of each (site, user), with the username and location of
// that login, sorted by site and user so every writer locks rows in the same order (no
// deadlocks between concurrent batches). Times are cut to Precision and set in UTC. Two
// logins of one user at the same instant are told apart by username, then location (the
// greater wins), so the result does not depend on the order of the input.
func Coalesce(logins []Login) []Login {
	type key struct{ site, user string }
	latest := make(map[key]Login, len(logins))
	for _, l := range logins {
		l.At = l.At.Truncate(Precision).UTC()
		k := key{l.Site, l.UserUUID}
		if cur, ok := latest[k]; !ok || later(l, cur) {
			latest[k] = l
		}
	}
	out := make([]Login, 0, len(latest))
	for _, l := range latest {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Login) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.UserUUID, b.UserUUID))
	})
	return out
}

func later(a, b Login) bool {
	if c := a.At.Compare(b.At); c != 0 {
		return c > 0
	}
	return cmp.Or(cmp.Compare(a.Username, b.Username), cmp.Compare(a.LocationUUID, b.LocationUUID)) > 0
}
