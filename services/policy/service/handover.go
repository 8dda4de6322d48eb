package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/admin"
	"github.com/dormant-dev/dormant/services/policy/handover"
)

// addHandover creates the reader of what users still hold in OpenMRS, for the admin page's
// user page, the last warning and the digest. Its reads are reused for one clock period.
func (p *Policy) addHandover() error {
	sites := map[string]handover.OpenMRS{}
	for id, c := range p.openmrs {
		sites[id] = c
	}
	r, err := handover.New(handover.Config{Projection: p.store, Sites: sites, MaxAge: p.opts.ClockPeriod})
	if err != nil {
		return err
	}
	p.handover = r
	return nil
}

// lastWarning reports whether a warning is the last of its cycle: its days left are no more
// than the site policy's smallest warning step. When the policy cannot be read it says yes:
// telling a user once more what to hand over is better than never.
func (p *Policy) lastWarning(ctx context.Context, site string, w *events.UserWarned) bool {
	s, ok := p.engine.site(site)
	if !ok {
		return true
	}
	l, err := p.engine.loadPolicy(ctx, s)
	if err != nil || len(l.Policy.WarnBefore) == 0 {
		return true
	}
	smallest := l.Policy.WarnBefore[len(l.Policy.WarnBefore)-1] // sorted largest first
	for _, step := range l.Policy.WarnBefore {
		smallest = min(smallest, step)
	}
	return time.Duration(w.DaysLeft)*policy.Day <= smallest
}

// UserHandover implements admin.HandoverBackend.
func (b adminBackend) UserHandover(ctx context.Context, site, userUUID string, now time.Time) (admin.UserHandover, error) {
	u, err := b.p.store.User(ctx, site, userUUID)
	if errors.Is(err, policy.ErrNotFound) {
		return admin.UserHandover{}, fmt.Errorf("%w: unknown user %s", admin.ErrInvalid, userUUID)
	}
	if err != nil {
		return admin.UserHandover{}, err
	}
	out := admin.UserHandover{UserUUID: u.UUID, Username: u.Username, Name: strings.TrimSpace(u.GivenName + " " + u.FamilyName)}
	upcoming, err := b.Upcoming(ctx, site, now, admin.UpcomingQuery{UserUUID: userUUID})
	if err != nil {
		return admin.UserHandover{}, err
	}
	if len(upcoming.Rows) == 1 {
		out.Upcoming = &upcoming.Rows[0]
	}
	if out.Facts, err = b.p.handover.Facts(ctx, site, userUUID); err != nil {
		return admin.UserHandover{}, err
	}
	return out, nil
}
