// Package backfill imports the last logins OpenMRS already knows, so that installing dormant
// on a site with history does not start everybody from the site's baseline.
//
// OpenMRS core writes the user property lastLoginTimestamp (epoch milliseconds) on every
// successful username/password login. The backfill reads it for every user and publishes one
// org.openmrs.user.session login on the site's auth subject, exactly as the hook would have:
// login-ingest stores it with its GREATEST rule, so a backfilled login never moves a newer
// last login back, and running the backfill again changes nothing. Each event's id derives
// from the site, the user and the timestamp, so a repeat within JetStream's duplicate window is
// not even stored twice.
//
// What it cannot see: logins by schemes that do not write the property (OAuth2 and other
// modules), and the authentication module's login log, which that module writes to its log4j
// logger and keeps in memory only (no table, no REST resource).
package backfill

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs"
)

// Source is the site's OpenMRS (*openmrs.Client).
type Source interface {
	EachUser(ctx context.Context, pageSize, startIndex int, fn func(u openmrs.User, index int) error) error
}

// Options tune Run. Zero values take the defaults.
type Options struct {
	// DryRun reads and counts but publishes nothing.
	DryRun bool
	// PageSize is the users asked per GET /user (default 100).
	PageSize int
	// MaxSkew is how far past now a timestamp may be (default 5 minutes, login-ingest's
	// default): later ones are skipped rather than sent to login-ingest's dead letters.
	MaxSkew time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Reasons a user with a lastLoginTimestamp is skipped.
const (
	SkipUnparseable = "unparseable"  // the property is not epoch milliseconds
	SkipFuture      = "future"       // later than now + MaxSkew
	SkipNoUsername  = "no_username"  // neither username nor system id
	SkipInvalid     = "invalid_user" // the user's data breaks the event contract
)

// Summary is what a backfill found and did.
type Summary struct {
	Site string
	// Read is every user listed; WithTimestamp those with a lastLoginTimestamp property.
	Read, WithTimestamp int
	// Eligible is the logins that were (or in a dry run would be) published.
	Eligible int
	// Published is the logins JetStream stored; Duplicates those it had already stored (a
	// backfill repeated within the duplicate window). Both 0 in a dry run.
	Published, Duplicates int
	// Skipped counts users with a timestamp that were not published, by reason.
	Skipped map[string]int
	// Oldest and Newest bound the eligible logins.
	Oldest, Newest time.Time
	DryRun         bool
}

// SkippedTotal is the sum of Skipped.
func (s Summary) SkippedTotal() int {
	n := 0
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

// String is the summary for an operator.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "site %s: %d users read, %d with a last login timestamp", s.Site, s.Read, s.WithTimestamp)
	if s.DryRun {
		fmt.Fprintf(&b, ", %d would be published (dry run: nothing sent)", s.Eligible)
	} else {
		fmt.Fprintf(&b, ", %d published (%d new, %d already stored)", s.Eligible, s.Published, s.Duplicates)
	}
	fmt.Fprintf(&b, ", %d skipped", s.SkippedTotal())
	if n := s.SkippedTotal(); n > 0 {
		var parts []string
		for _, r := range []string{SkipUnparseable, SkipFuture, SkipNoUsername, SkipInvalid} {
			if s.Skipped[r] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", r, s.Skipped[r]))
			}
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	if s.Eligible > 0 {
		fmt.Fprintf(&b, "; logins from %s to %s", s.Oldest.Format(time.RFC3339), s.Newest.Format(time.RFC3339))
	}
	return b.String()
}

// EventID is the id of the backfilled login of userUUID at ms (epoch milliseconds).
func EventID(site, userUUID string, ms int64) string {
	return events.DerivedID("backfill-login", site, userUUID, strconv.FormatInt(ms, 10))
}

// Run reads every user of site from src and publishes their recorded last logins on the
// site's auth subject (nothing in a dry run, where js may be nil). It stops at the first
// error; what it published until then stays, and running it again is safe.
func Run(ctx context.Context, src Source, js jetstream.JetStream, ns events.Namespace, site string, opts Options) (Summary, error) {
	if opts.PageSize <= 0 {
		opts.PageSize = openmrs.MaxPageSize
	}
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if !opts.DryRun && js == nil {
		return Summary{}, fmt.Errorf("backfill %s: no JetStream to publish to", site)
	}
	sum := Summary{Site: site, DryRun: opts.DryRun, Skipped: map[string]int{}}
	limit := opts.Now().Add(opts.MaxSkew)
	source := events.SourceFor("backfill", site)
	subject := ns.Auth(site)
	var pending []*nats.Msg
	flush := func() error {
		if opts.DryRun || len(pending) == 0 {
			pending = pending[:0]
			return nil
		}
		stored, dups, err := publish(ctx, js, pending)
		sum.Published += stored
		sum.Duplicates += dups
		pending = pending[:0]
		return err
	}
	err := src.EachUser(ctx, opts.PageSize, 0, func(u openmrs.User, _ int) error {
		sum.Read++
		raw, ok := u.UserProperties[openmrs.UserPropertyLastLogin]
		if !ok || strings.TrimSpace(raw) == "" {
			return nil
		}
		sum.WithTimestamp++
		ms, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil || ms <= 0 {
			sum.Skipped[SkipUnparseable]++
			return nil
		}
		at := time.UnixMilli(ms).UTC()
		if at.After(limit) {
			sum.Skipped[SkipFuture]++
			return nil
		}
		name := u.Username
		if name == "" {
			// Users created without a username log in with their system id.
			name = u.SystemID
		}
		if name == "" {
			sum.Skipped[SkipNoUsername]++
			return nil
		}
		data := &events.UserSession{Event: events.EventLogin, Status: events.StatusSuccess, UserUUID: u.UUID,
			Username: name, SystemID: u.SystemID, OccurredAt: at, Method: events.MethodOther}
		ev, err := events.New(source, site, data, EventID(site, u.UUID, ms), at)
		if err != nil {
			sum.Skipped[SkipInvalid]++
			return nil
		}
		msg, err := events.ToNATS(subject, ev)
		if err != nil {
			return err
		}
		sum.Eligible++
		if sum.Oldest.IsZero() || at.Before(sum.Oldest) {
			sum.Oldest = at
		}
		if at.After(sum.Newest) {
			sum.Newest = at
		}
		pending = append(pending, msg)
		if len(pending) >= opts.PageSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return sum, fmt.Errorf("backfill %s: %w", site, err)
	}
	return sum, nil
}

// publish stores msgs and returns how many were new and how many JetStream already had.
func publish(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) (stored, dups int, err error) {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return stored, dups, fmt.Errorf("publish on %s: %w", m.Subject, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				dups++
			} else {
				stored++
			}
		case err := <-f.Err():
			return stored, dups, fmt.Errorf("publish %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
		case <-ctx.Done():
			return stored, dups, ctx.Err()
		}
	}
	return stored, dups, nil
}
