package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/admin"
	"github.com/dormant-dev/dormant/services/policy/audit"
	"github.com/dormant-dev/dormant/services/policy/requests"
)

// addRequests opens the store of reactivation requests (the public page's queue).
func (p *Policy) addRequests(ctx context.Context, db *sqldb.DB) error {
	store, err := requests.OpenStore(ctx, db)
	if err != nil {
		return err
	}
	p.requests = store
	return nil
}

// RequestReactivation stores a reactivation request and emits
// dormant.user.reactivation.requested (id = the request's id), which the notifier mails to
// the site's admins. It does the same for every username, known or not: the public page must
// not reveal which accounts exist, and the admin queue says which are.
func (p *Policy) RequestReactivation(ctx context.Context, site, username, note, clientIP string) (requests.Request, error) {
	if !p.sites[site] {
		return requests.Request{}, fmt.Errorf("reactivation request: site %q is not configured", site)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return requests.Request{}, err
	}
	r := requests.Request{ID: hex.EncodeToString(b[:]), Site: site, Username: username, Note: note, ClientIP: clientIP, RequestedAt: p.now().Truncate(time.Microsecond), Status: requests.Pending}
	data := &events.ReactivationRequested{RequestID: r.ID, Username: r.Username, Note: r.Note, RequestedAt: r.RequestedAt, ClientIP: r.ClientIP}
	ev, err := events.New(events.SourceFor("admin", site), site, data, r.ID, r.RequestedAt)
	if err != nil {
		return requests.Request{}, err
	}
	if err := p.requests.Add(ctx, r); err != nil {
		return requests.Request{}, err
	}
	msg, err := events.ToNATS(p.ns.ReactivationRequested(site), ev)
	if err != nil {
		return r, err
	}
	if _, err := p.js.PublishMsg(ctx, msg); err != nil {
		// The request is in the queue; only the admins' email waits for it.
		return r, fmt.Errorf("reactivation request %s stored, but announcing it failed: %w", r.ID, err)
	}
	return r, nil
}

// ApproveRequest reactivates the account a request names, with its note as the reason and
// the admin as who, then records the approval. A request for an unknown username cannot be
// approved (ErrNotFound); one decided already gives requests.ErrNotPending.
func (p *Policy) ApproveRequest(ctx context.Context, site, id, by string) error {
	r, err := p.requests.Get(ctx, site, id)
	if err != nil {
		return err
	}
	if r.Status != requests.Pending {
		return requests.ErrNotPending
	}
	u, err := p.store.UserByUsername(ctx, site, r.Username)
	if err != nil {
		return fmt.Errorf("approve request %s: account %q: %w", id, r.Username, err)
	}
	reason := strings.TrimSpace(r.Note)
	if reason == "" {
		reason = "at the user's request"
	}
	reason = "requested by the user: " + reason
	if _, err := p.reactivator.ReactivateRequested(ctx, site, u.UUID, by, reason, r.ID); err != nil {
		return err
	}
	return p.requests.Decide(ctx, site, id, requests.Approved, by, reason, u.UUID, p.now())
}

// RejectRequest records an admin's rejection of a request and why.
func (p *Policy) RejectRequest(ctx context.Context, site, id, by, reason string) error {
	if strings.TrimSpace(reason) == "" || strings.TrimSpace(by) == "" {
		return errors.New("reject request: who and why are both required")
	}
	return p.requests.Decide(ctx, site, id, requests.Rejected, by, reason, "", p.now())
}

// ReactivationRequests lists a site's requests, newest first, with what the projection knows
// of each account.
func (p *Policy) ReactivationRequests(ctx context.Context, site string) ([]admin.ReactivationRequest, error) {
	list, err := p.requests.List(ctx, site, "", 500)
	if err != nil {
		return nil, err
	}
	out := make([]admin.ReactivationRequest, 0, len(list))
	for _, r := range list {
		row := admin.ReactivationRequest{ID: r.ID, Username: r.Username, Note: r.Note, ClientIP: r.ClientIP, RequestedAt: r.RequestedAt,
			Status: string(r.Status), DecidedBy: r.DecidedBy, DecisionReason: r.DecisionReason, DecidedAt: r.DecidedAt, UserUUID: r.UserUUID}
		u, err := p.store.UserByUsername(ctx, site, r.Username)
		switch {
		case err == nil:
			row.Known, row.Retired, row.UserUUID = true, u.Retired, u.UUID
		case !errors.Is(err, policy.ErrNotFound):
			return nil, err
		}
		out = append(out, row)
	}
	return out, nil
}

func requestErr(err error) error {
	if errors.Is(err, requests.ErrNotFound) || errors.Is(err, requests.ErrNotPending) {
		return fmt.Errorf("%w: %v", admin.ErrInvalid, err)
	}
	return invalid(err)
}

func (b adminBackend) RequestReactivation(ctx context.Context, site, username, note, clientIP string) error {
	r, err := b.p.RequestReactivation(ctx, site, username, note, clientIP)
	if err == nil {
		b.p.log.Info("reactivation request", zap.String("site", site), zap.String("request", r.ID), zap.String("client_ip", clientIP))
	}
	return err
}

func (b adminBackend) ReactivationRequests(ctx context.Context, site string) ([]admin.ReactivationRequest, error) {
	return b.p.ReactivationRequests(ctx, site)
}

func (b adminBackend) ApproveRequest(ctx context.Context, site, id, by string) error {
	return requestErr(b.p.ApproveRequest(ctx, site, id, by))
}

func (b adminBackend) RejectRequest(ctx context.Context, site, id, by, reason string) error {
	return requestErr(b.p.RejectRequest(ctx, site, id, by, reason))
}

func (b adminBackend) Audit(ctx context.Context, site string, from, to time.Time) (audit.Report, error) {
	if !b.p.sites[site] {
		return audit.Report{}, fmt.Errorf("%w: site %q is not configured", admin.ErrInvalid, site)
	}
	return b.p.Audit(ctx, site, from, to)
}
