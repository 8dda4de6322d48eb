package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	ingest "github.com/dormant-dev/dormant/services/login-ingest"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
)

// Reasons for dead letters that are this service's own rules rather than decoding errors.
const (
	reasonUnknownSite  = "unknown_site"
	reasonSiteMismatch = "site_mismatch"
	reasonFuture       = "future_timestamp"
	reasonWrongType    = "unexpected_type"
)

// sdkOnly turns the fast decoder and encoder off (events.FastUserSession, events.FastNATS),
// so that tests can hold the two paths side by side. Always false outside tests.
var sdkOnly = false

// batch is one batch on its way through decode, validate, decide, store, publish.
type batch struct {
	msgs    []jetstream.Msg
	logins  []ingest.Login
	outbox  []*nats.Msg // failed-login records, then last-login records, then dead letters
	dead    []natsbus.DeadLetter
	counted map[[2]string]int // (site, outcome) → events
	records int               // last-login records in outbox
	failed  int               // failed-login records in outbox
}

// Tally is what one or more processed batches came to.
type Tally struct {
	// Events is every message handled; the others break it down.
	Events, Logins, Failed, Logouts, DeadLetters int
	// Records is the dormant.lastlogin.recorded events published (users whose last login moved).
	Records int
}

func (t *Tally) add(o Tally) {
	t.Events += o.Events
	t.Logins += o.Logins
	t.Failed += o.Failed
	t.Logouts += o.Logouts
	t.DeadLetters += o.DeadLetters
	t.Records += o.Records
}

// process stores the batch's successful logins in one transaction and then publishes what
// follows from it: last-login records, failed-login records and dead letters, all in
// flight at once, waiting for every acknowledgement. It does not ack the messages: the
// caller acks after it returns nil (the live consumer) or has nothing to ack (replay).
//
// Any error leaves the whole batch to be handled again, which is safe: the store keeps the
// latest login (GREATEST), every published event has a deterministic id that JetStream
// deduplicates, and a dead letter's id derives from the original's stream sequence.
//
// The live consumer runs the three steps (prepare, commit, publish) as a pipeline, each on
// its own batch; replay runs them in turn.
func (in *Ingest) process(ctx context.Context, msgs []jetstream.Msg) (Tally, error) {
	b := in.prepare(msgs)
	if err := in.commit(ctx, b); err != nil {
		return Tally{}, err
	}
	return in.publish(ctx, b)
}

// prepare decodes, validates and classifies every message: pure CPU, no I/O.
func (in *Ingest) prepare(msgs []jetstream.Msg) *batch {
	return in.classifyAll(msgs, in.now())
}

func (in *Ingest) classifyAll(msgs []jetstream.Msg, now time.Time) *batch {
	b := &batch{msgs: msgs, counted: map[[2]string]int{}, logins: make([]ingest.Login, 0, len(msgs))}
	for _, m := range msgs {
		in.classify(b, m, now)
	}
	return b
}

// commit stores the batch's logins in one transaction and queues the record events of the
// users whose last login now equals the batch's, and the dead letters.
func (in *Ingest) commit(ctx context.Context, b *batch) error {
	start := time.Now()
	records, err := in.store.RecordLogins(ctx, b.logins)
	if err != nil {
		return fmt.Errorf("store %d logins: %w", len(b.logins), err)
	}
	in.metrics.commitSeconds.Observe(time.Since(start).Seconds())
	if in.hooks.afterCommit != nil {
		if err := in.hooks.afterCommit(); err != nil {
			return err
		}
	}
	for _, r := range records {
		msg, err := in.recordMsg(r)
		if err != nil {
			return err
		}
		b.outbox = append(b.outbox, msg)
	}
	b.records = len(records)
	dlq := in.ns.DLQ("auth")
	for _, d := range b.dead {
		b.outbox = append(b.outbox, d.Msg(dlq))
	}
	return nil
}

// publish puts the committed batch's events in flight and waits for JetStream to hold them
// all; then the batch counts as handled.
func (in *Ingest) publish(ctx context.Context, b *batch) (Tally, error) {
	if err := in.publishAll(ctx, b.outbox); err != nil {
		return Tally{}, err
	}
	if in.hooks.beforeAck != nil {
		if err := in.hooks.beforeAck(); err != nil {
			return Tally{}, err
		}
	}

	for _, d := range b.dead {
		in.metrics.deadLetters.WithLabelValues(d.Reason).Inc()
		in.log.Warn("authentication event refused", zap.String("reason", d.Reason), zap.String("detail", d.Detail),
			zap.String("subject", d.Subject), zap.Uint64("stream_seq", d.StreamSeq))
	}
	in.metrics.batchSize.Observe(float64(len(b.msgs)))
	in.metrics.eventsOut.WithLabelValues(events.TypeLastLoginRecorded).Add(float64(b.records))
	in.metrics.eventsOut.WithLabelValues(events.TypeLoginFailed).Add(float64(b.failed))
	t := Tally{Events: len(b.msgs), Records: b.records, DeadLetters: len(b.dead)}
	for k, n := range b.counted {
		in.metrics.events.WithLabelValues(k[0], k[1]).Add(float64(n))
		switch k[1] {
		case outcomeRecorded:
			t.Logins += n
		case outcomeFailed:
			t.Failed += n
		case outcomeLogout:
			t.Logouts += n
		}
	}
	return t, nil
}

// classify decodes and validates one message and decides what it becomes: a login to store,
// a failed-login record to publish, a logout to count, or a dead letter.
func (in *Ingest) classify(b *batch, m jetstream.Msg, now time.Time) {
	dead := func(site, reason, detail string) {
		b.dead = append(b.dead, natsbus.DeadLetterFrom(m, reason, detail))
		b.counted[[2]string{site, outcomeDead}]++
	}
	subjectSite, _ := events.SiteFromSubject(m.Subject())
	s, site, id, reason, err := in.decode(m.Headers(), m.Data(), now)
	if err != nil {
		dead(subjectSite, reason, err.Error())
		return
	}
	if subjectSite != site {
		// The subject is what a publisher's permissions allow; an event claiming another
		// site inside it is misrouted or forged, and must not touch that site's records.
		dead(subjectSite, reasonSiteMismatch, fmt.Sprintf("event for site %q published on %s", site, m.Subject()))
		return
	}
	switch {
	case s.Event == events.EventLogin && s.Status == events.StatusSuccess:
		b.logins = append(b.logins, ingest.Login{Site: site, UserUUID: s.UserUUID, Username: s.Username, LocationUUID: s.LocationUUID, At: s.OccurredAt})
		b.counted[[2]string{site, outcomeRecorded}]++
	case s.Status == events.StatusFailure:
		msg, err := in.failedLoginMsg(id, site, s)
		if err != nil {
			dead(site, events.ReasonInvalidData, err.Error())
			return
		}
		b.outbox = append(b.outbox, msg)
		b.failed++
		b.counted[[2]string{site, outcomeFailed}]++
	default:
		b.counted[[2]string{site, outcomeLogout}]++
	}
}

// decode reads one message of the auth stream and applies the rules every authentication
// event must pass. The common message (binary mode, a valid user session) takes
// events.FastUserSession; anything else, including every message with something wrong, takes
// the SDK path, so a refused message gets the same reason and error either way.
func (in *Ingest) decode(h nats.Header, data []byte, now time.Time) (s *events.UserSession, site, id, reason string, err error) {
	if !sdkOnly {
		if fe, ok := events.FastUserSession(h, data); ok {
			if reason, err := in.rules(&fe.Data, fe.Site, now); err != nil {
				return nil, fe.Site, fe.ID, reason, err
			}
			return &fe.Data, fe.Site, fe.ID, "", nil
		}
	}
	ev, err := events.FromNATS(h, data)
	if err != nil {
		return nil, "", "", events.ReasonOf(err), err
	}
	s, site, reason, err = in.validate(ev, now)
	return s, site, ev.ID(), reason, err
}

// validate applies the rules every authentication event must pass, from either intake.
func (in *Ingest) validate(ev cloudevents.Event, now time.Time) (s *events.UserSession, site, reason string, err error) {
	d, err := events.Decode(ev)
	if err != nil {
		return nil, "", events.ReasonOf(err), err
	}
	s, ok := d.(*events.UserSession)
	if !ok {
		return nil, "", reasonWrongType, fmt.Errorf("event type %s does not belong on the auth stream", ev.Type())
	}
	site = events.Site(ev)
	if reason, err := in.rules(s, site, now); err != nil {
		return nil, site, reason, err
	}
	return s, site, "", nil
}

// rules are login-ingest's own checks of a decoded session: its site is one of ours and it
// did not happen in the future.
func (in *Ingest) rules(s *events.UserSession, site string, now time.Time) (reason string, err error) {
	if !in.sites[site] {
		return reasonUnknownSite, fmt.Errorf("site %q is not configured", site)
	}
	if s.OccurredAt.After(now.Add(in.opts.MaxClockSkew)) {
		return reasonFuture, fmt.Errorf("occurred_at %s is later than now (%s) plus the allowed skew of %s",
			s.OccurredAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), in.opts.MaxClockSkew)
	}
	return "", nil
}

// recordMsg builds the dormant.lastlogin.recorded event for r. Its id derives from the record,
// so publishing it again after a crash is dropped by JetStream.
func (in *Ingest) recordMsg(r ingest.Record) (*nats.Msg, error) {
	data := &events.LastLoginRecorded{
		UserUUID:        r.UserUUID,
		Username:        r.Username,
		LastLoginAt:     r.LastLoginAt,
		PreviousLoginAt: r.PreviousLoginAt,
		LocationUUID:    r.LocationUUID,
	}
	id := events.DerivedID("lastlogin", r.Site, r.UserUUID, r.LastLoginAt.UTC().Format(time.RFC3339Nano))
	return in.message(r.Site, data, id, r.LastLoginAt)
}

func (in *Ingest) failedLoginMsg(sourceID, site string, s *events.UserSession) (*nats.Msg, error) {
	data := &events.LoginFailed{
		Username:   s.Username,
		UserUUID:   s.UserUUID,
		OccurredAt: s.OccurredAt,
		Method:     s.Method,
		ClientIP:   s.ClientIP,
	}
	return in.message(site, data, events.DerivedID("failed-login", site, sourceID), s.OccurredAt)
}

// message builds the event carrying data. Records and failed logins take events.FastNATS,
// which writes the same bytes as the SDK path; what it leaves (and every error) takes the
// SDK path.
func (in *Ingest) message(site string, data events.Data, id string, at time.Time) (*nats.Msg, error) {
	source, subject := events.SourceFor("login-ingest", site), in.ns.SubjectFor(site, data)
	if !sdkOnly {
		if msg, ok := events.FastNATS(subject, source, site, data, id, at); ok {
			return msg, nil
		}
	}
	ev, err := events.New(source, site, data, id, at)
	if err != nil {
		return nil, fmt.Errorf("build %s event: %w", data.EventType(), err)
	}
	msg, err := events.ToNATS(subject, ev)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", data.EventType(), err)
	}
	return msg, nil
}

// errPublishTimeout is JetStream not acknowledging within PublishTimeout: the stream is
// backed up (or its server is unreachable), not refusing.
var errPublishTimeout = errors.New("no acknowledgement from JetStream in time")

// publishAll puts every message in flight at once and then waits for all acknowledgements.
// Waiting on the futures in order costs nothing extra: they are acknowledged concurrently,
// and the total wait is that of the slowest.
func (in *Ingest) publishAll(ctx context.Context, msgs []*nats.Msg) error {
	if len(msgs) == 0 {
		return nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := in.pub.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("publish %s: %w", m.Subject, err)
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(in.opts.PublishTimeout)
	defer timeout.Stop()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish %s: %w", f.Msg().Subject, err)
		case <-timeout.C:
			return fmt.Errorf("publish %d events: %w (%s)", len(msgs), errPublishTimeout, in.opts.PublishTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
