package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/actuator"
	"github.com/dormant-dev/dormant/services/policy/admin"
)

// AdminOptions configure the admin page.
type AdminOptions struct {
	// SessionKey signs and encrypts the admin session cookies (at least 32 characters; the
	// same on every replica). Empty: a random key per process, so signing in again is needed
	// after a restart.
	SessionKey string `env:"DORMANT_ADMIN_SESSION_KEY"`
	// SessionTTL is how long a sign-in lasts.
	SessionTTL time.Duration `env:"DORMANT_ADMIN_SESSION_TTL" envDefault:"8h"`
	// SecureCookies marks the cookies Secure; set it when dormant is served over HTTPS.
	SecureCookies bool `env:"DORMANT_ADMIN_SECURE_COOKIES" envDefault:"false"`
	// Privilege is the OpenMRS privilege an admin must hold to sign in.
	Privilege string `env:"DORMANT_ADMIN_PRIVILEGE" envDefault:"Edit Users"`
	// TrustedProxies lists the reverse proxies in front of dormant (CIDR prefixes or
	// addresses, comma-separated) whose ProxyHeader names the client for the public
	// request page's per-address limit. Empty: no header is believed.
	TrustedProxies string `env:"DORMANT_ADMIN_TRUSTED_PROXIES"`
	// ProxyHeader is the header those proxies set: X-Forwarded-For or Forwarded.
	ProxyHeader string `env:"DORMANT_ADMIN_PROXY_HEADER" envDefault:"X-Forwarded-For"`
}

func (o AdminOptions) validate() error {
	var errs []error
	if o.SessionKey != "" && len(o.SessionKey) < 32 {
		errs = append(errs, errors.New("DORMANT_ADMIN_SESSION_KEY: must be at least 32 characters"))
	}
	if o.SessionTTL < time.Minute {
		errs = append(errs, fmt.Errorf("DORMANT_ADMIN_SESSION_TTL %s: must be at least 1m", o.SessionTTL))
	}
	if strings.TrimSpace(o.Privilege) == "" {
		errs = append(errs, errors.New("DORMANT_ADMIN_PRIVILEGE: must not be empty"))
	}
	if _, err := admin.ParseTrustedProxies(o.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("DORMANT_ADMIN_TRUSTED_PROXIES: %w", err))
	}
	if o.ProxyHeader != "" && !strings.EqualFold(o.ProxyHeader, admin.HeaderXForwardedFor) && !strings.EqualFold(o.ProxyHeader, admin.HeaderForwarded) {
		errs = append(errs, fmt.Errorf("DORMANT_ADMIN_PROXY_HEADER %q: want %s or %s", o.ProxyHeader, admin.HeaderXForwardedFor, admin.HeaderForwarded))
	}
	return errors.Join(errs...)
}

func (p *Policy) addAdmin(d Deps) error {
	o := p.opts.Admin
	if err := o.validate(); err != nil {
		return err
	}
	key := []byte(o.SessionKey)
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("admin session key: %w", err)
		}
		p.log.Warn("DORMANT_ADMIN_SESSION_KEY is not set: using a random key, so admins sign in again after a restart and replicas do not share sessions")
	}
	checkers := map[string]admin.CredentialChecker{}
	var sites []string
	for _, s := range d.Sites.Sites {
		sites = append(sites, s.ID)
		if c := p.openmrs[s.ID]; c != nil {
			checkers[s.ID] = c
		}
	}
	proxies, _ := admin.ParseTrustedProxies(o.TrustedProxies) // validated above
	srv, err := admin.New(admin.Config{SessionKey: key, SessionTTL: o.SessionTTL, SecureCookies: o.SecureCookies, Sites: sites,
		TrustedProxies: proxies, ProxyHeader: o.ProxyHeader},
		admin.OpenMRSAuth{Sites: checkers, Privilege: o.Privilege}, adminBackend{p}, p.log.Named("admin"))
	if err != nil {
		return err
	}
	p.admin = srv
	return nil
}

// adminBackend serves the admin page from the policy store, the decision engine and the
// actuator's records.
type adminBackend struct{ p *Policy }

var _ admin.Backend = adminBackend{}

// invalid marks errors the admin caused (unknown user, batch already decided) so the page
// shows them rather than "see the log".
func invalid(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, policy.ErrNotFound), errors.Is(err, policy.ErrNotPending), openmrs.IsNotFound(err):
		return fmt.Errorf("%w: %v", admin.ErrInvalid, err)
	default:
		return err
	}
}

func (b adminBackend) Overview(ctx context.Context, site string, now time.Time) (admin.Overview, error) {
	var o admin.Overview
	ss, err := b.p.store.SiteState(ctx, site)
	if err != nil {
		return o, err
	}
	o.LastFeedEvent = ss.LastFeedAt
	if l, err := b.loadPolicy(ctx, site); err == nil {
		pol := l.Policy
		o.PolicyEnabled, o.PolicyDryRun, o.PolicyVersion = pol.Enabled, pol.DryRun, pol.Version()
		o.InactiveAfterD = int(pol.InactiveAfter / policy.Day)
		o.Thresholds = append(o.Thresholds, admin.Threshold{Label: "retire", Days: o.InactiveAfterD})
		if len(pol.WarnBefore) > 0 {
			first := pol.WarnBefore[0]
			o.Thresholds = append(o.Thresholds, admin.Threshold{Label: "first warning", Days: int((pol.InactiveAfter - first) / policy.Day)})
		}
	} else {
		b.p.log.Warn("overview: policy not available", zap.String("site", site), zap.Error(err))
	}
	baseline := ss.Baseline
	if baseline.IsZero() {
		baseline = now
	}
	// Counted in the store: a national site has a million users, too many to read here.
	c, err := b.p.store.Census(ctx, site, policy.CensusQuery{Now: now, Baseline: baseline,
		BucketDays: admin.AgeBucketDays, Buckets: admin.AgeBucketCount, DueBefore: now.Add(30 * policy.Day)})
	if err != nil {
		return o, err
	}
	o.ActiveUsers, o.Warned, o.DueIn30Days = c.Active, c.Warned, c.Due
	o.NeverLoggedIn, o.Exempt, o.Requested = c.NeverLoggedIn, c.Exempt, c.Requested
	o.AgeBuckets, o.AgeBucketDays = c.Ages, admin.AgeBucketDays
	held, err := b.p.store.HeldBatches(ctx, site, policy.HeldPending)
	if err != nil {
		return o, err
	}
	o.HeldBatches = len(held)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	weekStart := now.Truncate(24*time.Hour).AddDate(0, 0, -int(now.Weekday()+6)%7)
	const weeks = 12
	o.RetiredPerWeek = make([]admin.WeekCount, weeks)
	since := make([]time.Time, 0, weeks+1)
	for i := range o.RetiredPerWeek {
		o.RetiredPerWeek[i].WeekStart = weekStart.AddDate(0, 0, -7*(weeks-1-i))
		since = append(since, o.RetiredPerWeek[i].WeekStart)
	}
	// Counted in the actuator's store: the retirements of a national site are too many to read.
	// A week's bar is what was recorded since its start less what since the next week's; the
	// last week's holds everything after its start.
	counts, err := b.p.actuatorStore.RetiredSince(ctx, site, append(since, monthStart))
	if err != nil {
		return o, err
	}
	for i := range o.RetiredPerWeek {
		o.RetiredPerWeek[i].Count = counts[i]
		if i+1 < weeks {
			o.RetiredPerWeek[i].Count -= counts[i+1]
		}
	}
	o.RetiredThisMonth = counts[weeks]
	return o, nil
}

func (b adminBackend) loadPolicy(ctx context.Context, site string) (policy.Loaded, error) {
	s, ok := b.p.engine.site(site)
	if !ok {
		return policy.Loaded{}, fmt.Errorf("%w: site %q is not configured", admin.ErrInvalid, site)
	}
	return b.p.engine.loadPolicy(ctx, s)
}

// Upcoming asks the store for one page: it leaves out users exempted since the last tick
// (the next tick cancels their plan, and the list shows now what the admin just did).
func (b adminBackend) Upcoming(ctx context.Context, site string, now time.Time, q admin.UpcomingQuery) (admin.UpcomingPage, error) {
	res, err := b.p.store.Upcoming(ctx, site, policy.UpcomingQuery{Now: now, Search: q.Search, Sort: policy.UpcomingSort(q.Sort),
		UserUUID: q.UserUUID, Page: q.Page, PageSize: q.PageSize})
	if err != nil {
		return admin.UpcomingPage{}, err
	}
	out := admin.UpcomingPage{Total: res.Total, Page: res.Page, Pages: res.Pages, Rows: make([]admin.Upcoming, 0, len(res.Rows))}
	for _, r := range res.Rows {
		st := r.State
		u := admin.Upcoming{UserUUID: r.UserUUID, Username: r.Username, Name: r.Name(),
			LastLoginAt: r.LastLoginAt, LastActivity: st.Anchor, Rule: st.Rule, DeactivateOn: st.DeactivateOn, WouldBe: st.DryRun,
			Reason: fmt.Sprintf("no activity since %s", st.Anchor.Format("2006-01-02"))}
		if st.Warned != 0 {
			u.Warned = fmt.Sprintf("%d days before", int(st.Warned/policy.Day))
		}
		out.Rows = append(out.Rows, u)
	}
	return out, nil
}

func (b adminBackend) History(ctx context.Context, site string, f admin.HistoryFilter) ([]admin.HistoryRow, error) {
	entries, err := b.p.store.History(ctx, site, f.UserUUID)
	if err != nil {
		return nil, err
	}
	rows := make([]admin.HistoryRow, 0, len(entries))
	for _, h := range entries {
		rows = append(rows, admin.HistoryRow{At: h.At, Kind: h.Kind, UserUUID: h.UserUUID, Reason: h.Reason, By: h.By,
			PolicyVersion: h.PolicyVersion, BatchID: h.BatchID, EventID: h.EventID, WouldBe: h.WouldBe})
	}
	// What the actuator did is history too: retirements, failures, superseded decisions.
	limit := f.Limit
	if limit <= 0 {
		limit = 1 << 30
	}
	acts, err := b.p.actuatorStore.Decisions(ctx, site, "", limit)
	if err != nil {
		return nil, err
	}
	for _, r := range acts {
		if f.UserUUID != "" && r.UserUUID != f.UserUUID {
			continue
		}
		kind := string(r.Outcome)
		if r.Outcome == actuator.OutcomeFailed {
			kind = "deactivation_failed"
		}
		rows = append(rows, admin.HistoryRow{At: r.RecordedAt, Kind: kind, UserUUID: r.UserUUID, Username: r.Username, Reason: r.Detail, By: "actuator", EventID: r.DecisionID})
	}
	reacts, err := b.p.actuatorStore.SiteReactivations(ctx, site, limit)
	if err != nil {
		return nil, err
	}
	for _, r := range reacts {
		if f.UserUUID != "" && r.UserUUID != f.UserUUID {
			continue
		}
		rows = append(rows, admin.HistoryRow{At: r.ReactivatedAt, Kind: "reactivated", UserUUID: r.UserUUID, Username: r.Username, Reason: r.Reason, By: r.By})
	}
	kept := rows[:0]
	for _, r := range rows {
		if f.Kind == "" || r.Kind == f.Kind {
			kept = append(kept, r)
		}
	}
	rows = kept
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].At.After(rows[j].At) })
	if f.Limit > 0 && len(rows) > f.Limit {
		rows = rows[:f.Limit]
	}
	return rows, b.fillUsernames(ctx, site, rows)
}

// fillUsernames names the users of history rows that only carry a uuid.
func (b adminBackend) fillUsernames(ctx context.Context, site string, rows []admin.HistoryRow) error {
	names := map[string]string{}
	for i := range rows {
		uuid := rows[i].UserUUID
		if rows[i].Username != "" || uuid == "" {
			continue
		}
		name, ok := names[uuid]
		if !ok {
			u, err := b.p.store.User(ctx, site, uuid)
			if err != nil && !errors.Is(err, policy.ErrNotFound) {
				return err
			}
			name = u.Username
			names[uuid] = name
		}
		rows[i].Username = name
	}
	return nil
}

func (b adminBackend) Retired(ctx context.Context, site string) ([]admin.Retired, error) {
	recs, err := b.p.actuatorStore.Decisions(ctx, site, actuator.OutcomeDeactivated, 1000)
	if err != nil {
		return nil, err
	}
	reacts, err := b.p.actuatorStore.SiteReactivations(ctx, site, 100000)
	if err != nil {
		return nil, err
	}
	lastReactivated := map[string]time.Time{}
	for _, r := range reacts {
		if r.ReactivatedAt.After(lastReactivated[r.UserUUID]) {
			lastReactivated[r.UserUUID] = r.ReactivatedAt
		}
	}
	out := make([]admin.Retired, 0, len(recs))
	for _, r := range recs {
		// The actuator's own records say who was reactivated since: the projection learns of a
		// retirement only at the next roster sync.
		if lastReactivated[r.UserUUID].After(r.RecordedAt) {
			continue
		}
		out = append(out, admin.Retired{UserUUID: r.UserUUID, Username: r.Username, Reason: r.Detail, DecisionID: r.DecisionID, RetiredAt: r.RecordedAt})
	}
	return out, nil
}

func (b adminBackend) Reactivate(ctx context.Context, site, userUUID, by, reason string) error {
	return invalid(b.p.Reactivate(ctx, site, userUUID, by, reason))
}

func (b adminBackend) HeldBatches(ctx context.Context, site string) ([]admin.Held, error) {
	batches, err := b.p.store.HeldBatches(ctx, site, "")
	if err != nil {
		return nil, err
	}
	out := make([]admin.Held, 0, len(batches))
	for _, hb := range batches {
		h := admin.Held{BatchID: hb.BatchID, Reason: hb.Reason, Status: string(hb.Status), DecidedBy: hb.DecidedBy, Tick: hb.Tick, DecidedAt: hb.DecidedAt, Limit: hb.Limit}
		for _, r := range hb.Requests {
			h.Users = append(h.Users, admin.HeldUser{UserUUID: r.UserUUID, Username: r.Username, Reason: r.Reason})
		}
		out = append(out, h)
	}
	return out, nil
}

func (b adminBackend) ApproveHeld(ctx context.Context, site, batchID, by string) error {
	_, err := b.p.ApproveHeld(ctx, site, batchID, by)
	return invalid(err)
}

func (b adminBackend) RejectHeld(ctx context.Context, site, batchID, by string) error {
	return invalid(b.p.RejectHeld(ctx, site, batchID, by, "rejected on the admin page"))
}

func (b adminBackend) Exemptions(ctx context.Context, site string, now time.Time) ([]admin.ExemptionRow, error) {
	list, err := b.p.store.Exemptions(ctx, site)
	if err != nil {
		return nil, err
	}
	out := make([]admin.ExemptionRow, 0, len(list))
	for _, e := range list {
		row := admin.ExemptionRow{UserUUID: e.UserUUID, Reason: e.Reason, By: e.By, Until: e.Until, CreatedAt: e.CreatedAt, Active: e.ActiveAt(now)}
		if u, err := b.p.store.User(ctx, site, e.UserUUID); err == nil {
			row.Username = u.Username
		}
		out = append(out, row)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Active && !out[j].Active })
	return out, nil
}

// AddExemption finds the user by uuid first, then by username.
func (b adminBackend) AddExemption(ctx context.Context, site, user, reason string, until *time.Time, by string) error {
	u, err := b.p.store.User(ctx, site, user)
	if errors.Is(err, policy.ErrNotFound) {
		u, err = b.p.store.UserByUsername(ctx, site, user)
	}
	if errors.Is(err, policy.ErrNotFound) {
		return fmt.Errorf("%w: no user %q at site %s", admin.ErrInvalid, user, site)
	}
	if err != nil {
		return err
	}
	return invalid(b.p.AddExemption(ctx, site, u.UUID, reason, by, until))
}

func (b adminBackend) EndExemption(ctx context.Context, site, userUUID, by string) error {
	return invalid(b.p.EndExemption(ctx, site, userUUID, by))
}

func (b adminBackend) Policy(ctx context.Context, site string) (admin.PolicyView, error) {
	l, err := b.loadPolicy(ctx, site)
	if err != nil {
		return admin.PolicyView{}, err
	}
	values := l.Policy.Values()
	v := admin.PolicyView{Version: l.Policy.Version()}
	for _, k := range policy.Keys {
		src := string(l.Provenance[k])
		if src == "" {
			src = string(policy.SourceDefault)
		}
		v.Settings = append(v.Settings, admin.Setting{Key: k, Value: values[k], Source: src})
	}
	return v, nil
}

// WhatIf lays the admin's values over the site's as dormant.* global properties (the
// highest precedence), so the preview shows exactly what setting them in OpenMRS would do.
func (b adminBackend) WhatIf(ctx context.Context, site string, at time.Time, overrides map[string]string) (admin.WhatIf, error) {
	s, ok := b.p.engine.site(site)
	if !ok {
		return admin.WhatIf{}, fmt.Errorf("%w: site %q is not configured", admin.ErrInvalid, site)
	}
	extra, err := globalsFor(overrides)
	if err != nil {
		return admin.WhatIf{}, err
	}
	l, err := b.p.engine.loadPolicyWith(ctx, s, extra)
	if err != nil {
		return admin.WhatIf{}, fmt.Errorf("%w: %v", admin.ErrInvalid, err)
	}
	previews, err := b.p.WhatIf(ctx, site, at, &l.Policy)
	if err != nil {
		return admin.WhatIf{}, err
	}
	pol := l.Policy
	pol.Enabled = true
	out := admin.WhatIf{At: at, Version: pol.Version()}
	for _, pr := range previews {
		what := "warned"
		if pr.Kind == policy.KindDeactivate {
			what = "retired"
		}
		out.Outcomes = append(out.Outcomes, admin.Preview{UserUUID: pr.UserUUID, Username: pr.Username, Outcome: what, Rule: pr.Rule, Reason: pr.Reason, DeactivateOn: pr.DeactivateOn})
	}
	return out, nil
}

// globalsFor turns what-if values, written as in the sites file ("60d", "14d, 7d"), into the
// dormant.* global properties that set them (days for the *Days properties).
func globalsFor(overrides map[string]string) (map[string]string, error) {
	byKey := map[string]string{}
	for gp, key := range policy.GlobalProperties {
		byKey[key] = gp
	}
	out := map[string]string{}
	for key, v := range overrides {
		gp, ok := byKey[key]
		if !ok {
			return nil, fmt.Errorf("%w: %s cannot be tried here", admin.ErrInvalid, key)
		}
		if strings.HasSuffix(gp, "Days") {
			var days []string
			for _, part := range strings.Split(v, ",") {
				d, err := policy.ParseDuration(strings.TrimSpace(part))
				if err != nil {
					return nil, fmt.Errorf("%w: %s %q: %v", admin.ErrInvalid, key, v, err)
				}
				days = append(days, strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", float64(d)/float64(policy.Day)), "0"), "."))
			}
			v = strings.Join(days, ",")
		}
		out[gp] = v
	}
	return out, nil
}
