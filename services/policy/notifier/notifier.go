// Package notifier tells people what dormant decided and did: an email to the user for each
// warning and for the deactivation (where the projection has an address), the site's admins
// an immediate email and an OpenMRS on-screen alert for a held batch and for a failed
// deactivation, an on-screen alert for each retirement, and a daily digest (upcoming
// retirements, retirements done, failed retirements, held batches).
//
// It has its own durable consumers, so a slow or failing mail server never holds up a
// decision. Each notification goes out once: a sent log keyed by the event id and channel is
// checked before and written after sending. A crash between the two sends that one message
// again (SMTP has no exactly-once); it carries the same Message-ID. Delivery failures are
// retried with exponential backoff by redelivery, up to MaxAttempts.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/handover"
)

// Directory gives what the policy projection knows of a user: email and name.
type Directory interface {
	User(ctx context.Context, site, userUUID string) (policy.User, error)
}

// Alerter posts OpenMRS on-screen alerts (*openmrs.Client).
type Alerter interface {
	CreateAlert(ctx context.Context, a openmrs.Alert) error
}

// Site is one site's notification channels; any of them may be absent.
type Site struct {
	ID string
	// Mailer is nil when the site has no SMTP server configured: no email at all.
	Mailer      Mailer
	AdminEmails []string
	// Alerts is nil when the site has no OpenMRS connection: no on-screen alerts.
	Alerts Alerter
	// Admins gives the uuids of the users to alert (see OpenMRSAdmins).
	Admins    func(ctx context.Context) ([]string, error)
	Templates *Templates
}

// Deps are the notifier's connections.
type Deps struct {
	Log       *zap.Logger
	JS        jetstream.JetStream
	NS        events.Namespace
	Store     *Store
	Directory Directory
	Sites     []Site
	Registry  prometheus.Registerer
	// Handover, when set, adds what the user still holds in OpenMRS to the last warning and
	// to the digest's upcoming retirements (handover.go).
	Handover Handover
	// LastWarning tells the last warning of a cycle (default: a day or less before).
	LastWarning func(ctx context.Context, site string, w *events.UserWarned) bool
}

// Notifier is the component.
type Notifier struct {
	log     *zap.Logger
	js      jetstream.JetStream
	ns      events.Namespace
	store   *Store
	dir     Directory
	sites   map[string]*Site
	opts    Options
	digest  time.Duration // offset of the digest into the UTC day
	cons    []jetstream.Consumer
	now     func() time.Time
	metrics *metrics
	// handover and isLastWarning are Deps.Handover and Deps.LastWarning.
	handover      Handover
	isLastWarning func(ctx context.Context, site string, w *events.UserWarned) bool
}

// alertTTL is how long an on-screen alert stays: long enough for an admin back from a week
// off, short enough not to pile up.
const alertTTL = 7 * 24 * time.Hour

// New creates the notifier's durable consumers (warnings, held batches, deactivations, failed
// deactivations, reactivation requests).
func New(ctx context.Context, d Deps, opts Options) (*Notifier, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	n := &Notifier{log: d.Log.Named("notifier"), js: d.JS, ns: d.NS, store: d.Store, dir: d.Directory,
		sites: map[string]*Site{}, opts: opts, now: func() time.Time { return time.Now().UTC() },
		handover: d.Handover, isLastWarning: d.LastWarning}
	n.digest, _ = opts.digestOffset()
	for i := range d.Sites {
		s := d.Sites[i]
		if s.Templates == nil {
			return nil, fmt.Errorf("notifier: site %s has no templates", s.ID)
		}
		n.sites[s.ID] = &s
	}
	// NATS 2.9 takes one filter per consumer: one consumer per input.
	for _, in := range []struct{ name, stream, subject string }{
		{"warned", d.NS.StreamDecisions(), d.NS.Warned("*")},
		{"held", d.NS.StreamDecisions(), d.NS.Held("*")},
		{"deactivated", d.NS.StreamActions(), d.NS.Deactivated("*")},
		{"failed", d.NS.StreamActions(), d.NS.DeactivationFailed("*")},
		{"reactivation-requested", d.NS.StreamDecisions(), d.NS.ReactivationRequested("*")},
	} {
		name := opts.ConsumerPrefix + "-" + in.name
		c, err := d.JS.CreateOrUpdateConsumer(ctx, in.stream, jetstream.ConsumerConfig{
			Durable:       name,
			Description:   "notifier: " + in.name + " events into emails and alerts",
			FilterSubject: in.subject,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       2 * time.Minute, // one message may wait for a slow SMTP server
			MaxAckPending: 100,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			MaxDeliver:    -1,
		})
		if err != nil {
			return nil, fmt.Errorf("create consumer %s: %w", name, err)
		}
		n.cons = append(n.cons, c)
	}
	n.metrics = newMetrics(d.Registry)
	return n, nil
}

// Run consumes and sends the daily digests until ctx ends.
func (n *Notifier) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range n.cons {
		g.Go(func() error {
			return natsbus.ConsumeBatches(gctx, c, natsbus.BatchOptions{
				Size: 20, MaxWait: 500 * time.Millisecond,
				OnError: func(err error) { n.log.Error("notification batch failed; will be redelivered", zap.Error(err)) },
			}, n.handleBatch)
		})
	}
	if n.opts.DigestAt == "off" {
		return g.Wait()
	}
	g.Go(func() error {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			if err := n.SendDigests(gctx, n.now()); err != nil {
				n.log.Error("daily digest failed; will try again", zap.Error(err))
			}
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	return g.Wait()
}

func (n *Notifier) handleBatch(ctx context.Context, msgs []jetstream.Msg) error {
	for _, m := range msgs {
		n.handle(ctx, m)
	}
	return nil
}

// handle notifies for one event and settles its message.
func (n *Notifier) handle(ctx context.Context, m jetstream.Msg) {
	ev, err := events.FromNATS(m.Headers(), m.Data())
	var d events.Data
	if err == nil {
		d, err = events.Decode(ev)
	}
	if err == nil && n.sites[events.Site(ev)] == nil {
		err = &events.DecodeError{Reason: "unknown_site", Err: fmt.Errorf("site %q is not configured", events.Site(ev))}
	}
	if err != nil {
		if perr := natsbus.PublishDeadLetter(ctx, n.js, n.ns.DLQ("notifier"), natsbus.DeadLetterFrom(m, events.ReasonOf(err), err.Error())); perr != nil {
			_ = m.NakWithDelay(n.opts.RetryBackoff)
			return
		}
		_ = m.Ack()
		return
	}
	s := n.sites[events.Site(ev)]
	switch x := d.(type) {
	case *events.UserWarned:
		err = n.warned(ctx, s, ev, x)
	case *events.UserDeactivated:
		err = n.deactivated(ctx, s, ev, x)
	case *events.PolicyHeld:
		err = n.held(ctx, s, ev, x)
	case *events.DeactivationFailed:
		err = n.failed(ctx, s, ev, x)
	case *events.ReactivationRequested:
		err = n.reactivationRequested(ctx, s, ev, x)
	}
	if err == nil {
		n.metrics.events.WithLabelValues(s.ID, ev.Type(), "done").Inc()
		_ = m.Ack()
		return
	}
	attempt := 1
	if md, merr := m.Metadata(); merr == nil {
		attempt = int(md.NumDelivered)
	}
	if attempt >= n.opts.MaxAttempts {
		// Notifications are a courtesy: after the last attempt the event is let go (and the
		// digest still lists it), rather than blocking the ones behind it.
		n.log.Error("giving up on a notification", zap.String("site", s.ID), zap.String("event", ev.ID()), zap.Int("attempts", attempt), zap.Error(err))
		n.metrics.events.WithLabelValues(s.ID, ev.Type(), "gave_up").Inc()
		_ = m.Ack()
		return
	}
	backoff := n.opts.RetryBackoff << min(attempt-1, 10)
	backoff = backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
	n.log.Warn("notification failed; will retry", zap.String("event", ev.ID()), zap.Int("attempt", attempt), zap.Duration("in", backoff), zap.Error(err))
	_ = m.NakWithDelay(backoff)
}

// once sends a notification unless the sent log has it.
func (n *Notifier) once(ctx context.Context, site, key, recipients string, send func() error) error {
	sent, err := n.store.Sent(ctx, key)
	if err != nil || sent {
		return err
	}
	if err := send(); err != nil {
		return err
	}
	n.metrics.sent.WithLabelValues(site, key[strings.LastIndexByte(key, ':')+1:]).Inc()
	return n.store.MarkSent(ctx, key, site, recipients, n.now())
}

// person is what templates know of a user.
type person struct {
	Username, Name, Email string
}

func (n *Notifier) person(ctx context.Context, site, userUUID, username string) (person, error) {
	p := person{Username: username, Name: username}
	u, err := n.dir.User(ctx, site, userUUID)
	if errors.Is(err, policy.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if u.Username != "" {
		p.Username = u.Username
	}
	p.Name = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
	if p.Name == "" {
		p.Name = p.Username
	}
	p.Email = u.Email
	return p, nil
}

// WarningData is what the warning templates receive.
type WarningData struct {
	Site, Username, Name, Rule string
	DaysLeft                   int
	DeactivateOn               time.Time
	LastLoginAt                *time.Time
	// Handover is what the account still holds in OpenMRS, on the last warning only (nil
	// otherwise, or when it could not be read).
	Handover *handover.Facts
}

func (n *Notifier) warned(ctx context.Context, s *Site, ev cloudevents.Event, d *events.UserWarned) error {
	p, err := n.person(ctx, s.ID, d.UserUUID, d.Username)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("%s, warned %d days before", d.Rule, d.DaysLeft)
	if d.DryRun {
		detail = fmt.Sprintf("dry run: %s, would be warned %d days before", d.Rule, d.DaysLeft)
	}
	err = n.store.AddItem(ctx, Item{Site: s.ID, EventID: ev.ID(), Kind: ItemUpcoming, UserUUID: d.UserUUID, Username: p.Username,
		Detail: detail, OccurredAt: ev.Time(), DueAt: d.DeactivateOn})
	// A would-be warning reaches the admins' digest only: telling a user their account is
	// about to be retired when the site has not switched retirement on would be false.
	if err != nil || d.DryRun || p.Email == "" || s.Mailer == nil {
		return err
	}
	data := WarningData{Site: s.ID, Username: p.Username, Name: p.Name, Rule: d.Rule, DaysLeft: d.DaysLeft, DeactivateOn: d.DeactivateOn, LastLoginAt: d.LastLoginAt}
	if n.lastWarning(ctx, s.ID, d) {
		data.Handover = n.facts(ctx, s.ID, d.UserUUID)
	}
	return n.mail(ctx, s, ev.ID()+":email", KindWarning, []string{p.Email}, data)
}

// DeactivatedData is what the deactivation templates receive.
type DeactivatedData struct {
	Site, Username, Name, Reason string
	RetiredAt                    time.Time
}

func (n *Notifier) deactivated(ctx context.Context, s *Site, ev cloudevents.Event, d *events.UserDeactivated) error {
	p, err := n.person(ctx, s.ID, d.UserUUID, d.Username)
	if err != nil {
		return err
	}
	if err := n.store.AddItem(ctx, Item{Site: s.ID, EventID: ev.ID(), Kind: ItemRetired, UserUUID: d.UserUUID, Username: p.Username,
		Detail: d.Reason, OccurredAt: d.RetiredAt}); err != nil {
		return err
	}
	if p.Email != "" && s.Mailer != nil {
		data := DeactivatedData{Site: s.ID, Username: p.Username, Name: p.Name, Reason: d.Reason, RetiredAt: d.RetiredAt}
		if err := n.mail(ctx, s, ev.ID()+":email", KindDeactivated, []string{p.Email}, data); err != nil {
			return err
		}
	}
	return n.alert(ctx, s, ev.ID()+":alert", fmt.Sprintf("dormant retired the account %s: %s", p.Username, d.Reason))
}

// HeldData is what the held-batch templates receive.
type HeldData struct {
	Site, BatchID, Reason string
	Count, Limit          int
	Sample                []string
}

func (n *Notifier) held(ctx context.Context, s *Site, ev cloudevents.Event, d *events.PolicyHeld) error {
	if err := n.store.AddItem(ctx, Item{Site: s.ID, EventID: ev.ID(), Kind: ItemHeld,
		Detail: fmt.Sprintf("batch %s: %d deactivations held (limit %d): %s", d.BatchID, d.Count, d.Limit, d.Reason), OccurredAt: ev.Time()}); err != nil {
		return err
	}
	if len(s.AdminEmails) > 0 && s.Mailer != nil {
		data := HeldData{Site: s.ID, BatchID: d.BatchID, Reason: d.Reason, Count: d.Count, Limit: d.Limit, Sample: d.Sample}
		if err := n.mail(ctx, s, ev.ID()+":admins", KindHeld, s.AdminEmails, data); err != nil {
			return err
		}
	}
	return n.alert(ctx, s, ev.ID()+":alert", fmt.Sprintf("dormant held %d deactivations for your approval: %s", d.Count, d.Reason))
}

// FailedData is what the failed-deactivation templates receive.
type FailedData struct {
	Site, Username, Name, UserUUID, DecisionID, Error string
	Attempts                                          int
	// Retryable is false when no retry can cure the error by itself (401/403, 404, no
	// OpenMRS connection): a person must act.
	Retryable bool
}

// failed tells the admins at once, as for a held batch, that an account dormant decided to
// retire is still live: an email, an on-screen alert, and a digest line. A security officer
// must see it; the policy proposes the retirement again after failure_retry_after, and each
// failure is told again.
func (n *Notifier) failed(ctx context.Context, s *Site, ev cloudevents.Event, d *events.DeactivationFailed) error {
	p, err := n.person(ctx, s.ID, d.UserUUID, d.UserUUID)
	if err != nil {
		return err
	}
	retry := "retryable"
	if !d.Retryable {
		retry = "not retryable: needs a person"
	}
	if err := n.store.AddItem(ctx, Item{Site: s.ID, EventID: ev.ID(), Kind: ItemFailed, UserUUID: d.UserUUID, Username: p.Username,
		Detail: fmt.Sprintf("%s after %d attempts (%s)", d.Error, d.Attempts, retry), OccurredAt: ev.Time()}); err != nil {
		return err
	}
	if len(s.AdminEmails) > 0 && s.Mailer != nil {
		data := FailedData{Site: s.ID, Username: p.Username, Name: p.Name, UserUUID: d.UserUUID, DecisionID: d.DecisionID,
			Error: d.Error, Attempts: d.Attempts, Retryable: d.Retryable}
		if err := n.mail(ctx, s, ev.ID()+":admins", KindFailed, s.AdminEmails, data); err != nil {
			return err
		}
	}
	return n.alert(ctx, s, ev.ID()+":alert", fmt.Sprintf("dormant could not retire the dormant account %s (%s): %s", p.Username, retry, d.Error))
}

func (n *Notifier) mail(ctx context.Context, s *Site, key, kind string, to []string, data any) error {
	subject, text, html, err := s.Templates.Render(kind, data)
	if err != nil {
		return err
	}
	return n.once(ctx, s.ID, key, strings.Join(to, ","), func() error {
		return s.Mailer.Send(ctx, Message{To: to, Subject: subject, Text: text, HTML: html, ID: events.DerivedID(key)})
	})
}

func (n *Notifier) alert(ctx context.Context, s *Site, key, text string) error {
	if s.Alerts == nil || s.Admins == nil {
		return nil
	}
	admins, err := s.Admins(ctx)
	if err != nil || len(admins) == 0 {
		return err
	}
	if r := []rune(text); len(r) > 500 {
		// OpenMRS keeps alert text in a short column.
		text = string(r[:499]) + "…"
	}
	return n.once(ctx, s.ID, key, strings.Join(admins, ","), func() error {
		return s.Alerts.CreateAlert(ctx, openmrs.Alert{Text: text, Recipients: admins, DateToExpire: n.now().Add(alertTTL)})
	})
}

// DigestData is what the digest templates receive.
type DigestData struct {
	Site, Day               string
	Upcoming, Retired, Held []Item
	// Failed are the retirements the actuator gave up on: accounts still live.
	Failed []Item
}

// SendDigests sends each site's digest for the UTC day of now, once the digest time has come,
// if the site has admin addresses and anything to report, and it was not sent yet.
func (n *Notifier) SendDigests(ctx context.Context, now time.Time) error {
	now = now.UTC()
	day := now.Truncate(24 * time.Hour)
	if now.Before(day.Add(n.digest)) {
		return nil
	}
	var errs []error
	for _, s := range n.sites {
		if s.Mailer == nil || len(s.AdminEmails) == 0 {
			continue
		}
		if err := n.sendDigest(ctx, s, day, now); err != nil {
			errs = append(errs, fmt.Errorf("digest of %s: %w", s.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (n *Notifier) sendDigest(ctx context.Context, s *Site, day, now time.Time) error {
	id := "digest:" + s.ID + ":" + day.Format(time.DateOnly)
	if sent, err := n.store.Sent(ctx, id); err != nil || sent {
		return err
	}
	items, err := n.store.Pending(ctx, s.ID)
	if err != nil || len(items) == 0 {
		return err
	}
	data := DigestData{Site: s.ID, Day: day.Format(time.DateOnly)}
	latest := map[string]int{} // a user warned twice since the last digest is listed once
	for _, it := range items {
		switch it.Kind {
		case ItemUpcoming:
			if i, ok := latest[it.UserUUID]; ok {
				data.Upcoming[i] = it
				continue
			}
			latest[it.UserUUID] = len(data.Upcoming)
			data.Upcoming = append(data.Upcoming, it)
		case ItemRetired:
			data.Retired = append(data.Retired, it)
		case ItemHeld:
			data.Held = append(data.Held, it)
		case ItemFailed:
			data.Failed = append(data.Failed, it)
		}
	}
	slices.SortStableFunc(data.Upcoming, func(a, b Item) int { return a.DueAt.Compare(b.DueAt) })
	for i := range data.Upcoming {
		data.Upcoming[i].Handover = n.facts(ctx, s.ID, data.Upcoming[i].UserUUID)
	}
	subject, text, html, err := s.Templates.Render(KindDigest, data)
	if err != nil {
		return err
	}
	if err := s.Mailer.Send(ctx, Message{To: s.AdminEmails, Subject: subject, Text: text, HTML: html, ID: events.DerivedID(id)}); err != nil {
		return err
	}
	n.metrics.sent.WithLabelValues(s.ID, "digest").Inc()
	return n.store.CloseDigest(ctx, s.ID, id, strings.Join(s.AdminEmails, ","), items, now)
}

type metrics struct {
	events *prometheus.CounterVec
	sent   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_notifier_events_total",
			Help: "Events the notifier settled, by site, type and result (done, gave_up).",
		}, []string{"site", "type", "result"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_notifier_sent_total",
			Help: "Notifications sent, by site and channel (email, admins, alert, digest).",
		}, []string{"site", "channel"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.sent)
	}
	return m
}
