// Package roster keeps the policy's view of each site's OpenMRS users current: it reads every
// user (GET /user?v=full, page by page), and publishes dormant.user.synced for the users whose
// facts changed since the last sync.
//
// What changed is decided by a fingerprint of the event's data kept per user in the roster's
// own tables (component "roster", PostgreSQL or SQLite). The event id derives from the
// fingerprint, so a user published again with the same facts (a sync resumed after a crash
// between publishing and recording) is dropped by JetStream, and within its duplicate window
// the stream holds each change once.
//
// Paging survives restarts: after each batch of users the startIndex to resume from is
// recorded together with the batch's fingerprints, in one transaction, and a sync that finds a
// checkpoint of a run in progress resumes there. Publishing happens before recording, so a
// crash can repeat a batch but never skip one.
//
// Names: GET /user?v=full gives the person only in its default representation, with the
// display name but not the given and family names; those need GET /person/{uuid}?v=full, one
// request per user. The sync remembers the person display it read the names with and asks
// again only when that display (or the person) changed, so after the first sync a roster of
// 100k users costs its 1,000 list pages and a handful of person reads.
package roster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs"
)

// VolatileProperties are user properties OpenMRS core rewrites on logins and failed logins
// (OpenmrsConstants.USER_PROPERTY_LAST_LOGIN_TIMESTAMP, _LOGIN_ATTEMPTS, _LOCKOUT_TIMESTAMP).
// They are left out of dormant.user.synced: with them every user who logged in since the last
// sync would count as changed, and the projection would re-examine them for nothing. Logins
// reach the policy as login records (and the backfill reads lastLoginTimestamp once).
var VolatileProperties = []string{openmrs.UserPropertyLastLogin, "loginAttempts", "lockoutTimestamp"}

// Source is the site's OpenMRS (*openmrs.Client).
type Source interface {
	EachUser(ctx context.Context, pageSize, startIndex int, fn func(u openmrs.User, index int) error) error
	Person(ctx context.Context, uuid string) (openmrs.Person, error)
}

// Options tune a Syncer. Zero values take the defaults.
type Options struct {
	// PageSize is the users asked per GET /user and recorded per checkpoint (default 100,
	// webservices.rest's usual cap).
	PageSize int
	// ProgressEvery logs progress after every so many users (default 10,000).
	ProgressEvery int
	// PersonReads is how many GET /person run at once (default 4).
	PersonReads int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Options) fill() {
	if o.PageSize <= 0 {
		o.PageSize = openmrs.MaxPageSize
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 10000
	}
	if o.PersonReads <= 0 {
		o.PersonReads = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Syncer syncs one site.
type Syncer struct {
	site    string
	src     Source
	js      jetstream.JetStream
	ns      events.Namespace
	store   *Store
	opts    Options
	log     *zap.Logger
	metrics *Metrics
}

// NewSyncer returns the syncer of site. metrics may be nil.
func NewSyncer(site string, src Source, js jetstream.JetStream, ns events.Namespace, store *Store, log *zap.Logger, metrics *Metrics, opts Options) *Syncer {
	opts.fill()
	return &Syncer{site: site, src: src, js: js, ns: ns, store: store, opts: opts, log: log.With(zap.String("site", site)), metrics: metrics}
}

// Site is the site this syncer reads.
func (s *Syncer) Site() string { return s.site }

// Result is what one Sync call did.
type Result struct {
	// Resumed is true when the call continued a sync an earlier call left unfinished, from
	// index From.
	Resumed bool
	From    int
	// Read counts the users this call read; Published those it published (Duplicates of them
	// were dropped by JetStream as already stored); Unchanged those whose facts were the same
	// as last time; Invalid those whose facts break the contract (logged, not recorded, so the
	// next sync tries again).
	Read, Published, Duplicates, Unchanged, Invalid int
	// PersonReads counts GET /person requests.
	PersonReads int
	Duration    time.Duration
}

// Sync reads the whole roster once, resuming an unfinished sync, and publishes the users that
// changed. On error the checkpoint keeps the last recorded batch, and the next call resumes
// after it.
func (s *Syncer) Sync(ctx context.Context) (Result, error) {
	began := time.Now()
	var res Result
	cp, err := s.store.Checkpoint(ctx, s.site)
	if err != nil {
		return res, err
	}
	if cp.Running {
		res.Resumed, res.From = true, cp.NextIndex
		s.log.Info("roster sync resumes", zap.Int("from_index", cp.NextIndex), zap.Int("read_before", cp.Read), zap.Time("started_at", cp.StartedAt))
	} else {
		cp = Checkpoint{Running: true, StartedAt: s.opts.Now().UTC(), LastTotal: cp.LastTotal, LastCompletedAt: cp.LastCompletedAt}
		s.log.Info("roster sync starts", zap.Int("expected_users", cp.LastTotal))
	}
	s.metrics.running(s.site, cp)

	batch := make([]indexed, 0, s.opts.PageSize)
	nextLog := s.opts.ProgressEvery
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.flush(ctx, &cp, batch, &res); err != nil {
			return err
		}
		batch = batch[:0]
		if res.Read >= nextLog {
			s.progress(cp, res, began)
			nextLog += s.opts.ProgressEvery
		}
		return nil
	}
	err = s.src.EachUser(ctx, s.opts.PageSize, cp.NextIndex, func(u openmrs.User, index int) error {
		batch = append(batch, indexed{u, index})
		if len(batch) < s.opts.PageSize {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	res.Duration = time.Since(began)
	if err != nil {
		s.metrics.failed(s.site)
		return res, fmt.Errorf("roster sync of %s (resume from index %d): %w", s.site, cp.NextIndex, err)
	}

	now := s.opts.Now().UTC()
	cp.Running, cp.NextIndex, cp.LastTotal, cp.LastCompletedAt = false, 0, cp.Read, now
	if err := s.store.Commit(ctx, s.site, nil, cp, now); err != nil {
		return res, err
	}
	s.metrics.finished(s.site, cp, res.Duration)
	s.log.Info("roster sync finished", zap.Int("users", cp.Read), zap.Int("published", cp.Published),
		zap.Int("read_now", res.Read), zap.Int("published_now", res.Published), zap.Int("invalid", res.Invalid),
		zap.Int("person_reads", res.PersonReads), zap.Duration("took", res.Duration))
	return res, nil
}

func (s *Syncer) progress(cp Checkpoint, res Result, began time.Time) {
	rate := float64(res.Read) / max(time.Since(began).Seconds(), 1e-3)
	fields := []zap.Field{zap.Int("read", cp.Read), zap.Int("published", cp.Published), zap.Float64("users_per_second", rate)}
	if cp.LastTotal > 0 {
		// The total is what the last finished sync read: OpenMRS lists give no count unless
		// asked, and the roster rarely moves much between syncs.
		fields = append(fields, zap.Int("total", cp.LastTotal), zap.Float64("percent", min(100, 100*float64(cp.Read)/float64(cp.LastTotal))))
	}
	s.log.Info("roster sync progress", fields...)
}

type indexed struct {
	u     openmrs.User
	index int
}

// item is one user of a batch on its way to an event.
type item struct {
	u          openmrs.User
	known      Known
	seen       bool // known is set
	given      string
	family     string
	readPerson bool
}

// flush publishes the changed users of batch, then records the batch and the checkpoint.
func (s *Syncer) flush(ctx context.Context, cp *Checkpoint, batch []indexed, res *Result) error {
	uuids := make([]string, len(batch))
	for i, b := range batch {
		uuids[i] = b.u.UUID
	}
	known, err := s.store.Known(ctx, s.site, uuids)
	if err != nil {
		return err
	}
	items := make([]item, len(batch))
	for i, b := range batch {
		it := item{u: b.u}
		it.known, it.seen = known[b.u.UUID]
		switch p := b.u.Person; {
		case p.GivenName != "" || p.FamilyName != "":
			// A server that does give the names in the list saves the lookup.
			it.given, it.family = p.GivenName, p.FamilyName
		case p.UUID == "":
		case it.seen && it.known.PersonUUID == p.UUID && it.known.PersonDisplay == p.Display:
			it.given, it.family = it.known.GivenName, it.known.FamilyName
		default:
			it.readPerson = true
		}
		items[i] = it
	}
	if err := s.readPersons(ctx, items, res); err != nil {
		return err
	}

	now := s.opts.Now().UTC()
	var (
		msgs   []*nats.Msg
		record []Known
	)
	for _, it := range items {
		data := Facts(it.u, it.given, it.family)
		fp := Fingerprint(data)
		k := Known{UUID: it.u.UUID, Fingerprint: fp, PersonUUID: it.u.Person.UUID, PersonDisplay: it.u.Person.Display, GivenName: it.given, FamilyName: it.family}
		if it.seen && it.known.Fingerprint == fp {
			res.Unchanged++
			if it.known != k {
				record = append(record, k) // the display moved but the names did not
			}
			continue
		}
		ev, err := events.New(events.SourceFor("roster", s.site), s.site, data, EventID(s.site, it.u.UUID, fp), now)
		if err != nil {
			res.Invalid++
			s.metrics.invalidUser(s.site)
			s.log.Warn("user not synced: its facts break the contract", zap.String("user_uuid", it.u.UUID), zap.String("username", it.u.Username), zap.Error(err))
			continue
		}
		m, err := events.ToNATS(s.ns.UserSynced(s.site), ev)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		record = append(record, k)
	}
	dups, err := publish(ctx, s.js, msgs)
	if err != nil {
		return err
	}
	res.Read += len(batch)
	res.Published += len(msgs)
	res.Duplicates += dups
	cp.NextIndex = batch[len(batch)-1].index + 1
	cp.Read += len(batch)
	cp.Published += len(msgs)
	if err := s.store.Commit(ctx, s.site, record, *cp, now); err != nil {
		return err
	}
	s.metrics.batch(s.site, *cp, len(msgs), dups)
	return nil
}

// readPersons fills the names of the items that need GET /person, a few at a time.
func (s *Syncer) readPersons(ctx context.Context, items []item, res *Result) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.PersonReads)
	for i := range items {
		if !items[i].readPerson {
			continue
		}
		res.PersonReads++
		it := &items[i]
		g.Go(func() error {
			p, err := s.src.Person(gctx, it.u.Person.UUID)
			if openmrs.IsNotFound(err) {
				// A user whose person is gone (voided and purged) still counts; it just has
				// no names, and the display is kept so it is not asked again.
				s.log.Warn("user's person not found; synced without names", zap.String("user_uuid", it.u.UUID), zap.String("person_uuid", it.u.Person.UUID))
				return nil
			}
			if err != nil {
				return fmt.Errorf("names of user %s: %w", it.u.UUID, err)
			}
			it.given, it.family = p.GivenName, p.FamilyName
			return nil
		})
	}
	return g.Wait()
}

// publishChunk bounds the asynchronous publishes in flight.
const publishChunk = 1000

// publish stores msgs on JetStream and returns how many the server dropped as duplicates.
func publish(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) (int, error) {
	dups := 0
	for len(msgs) > 0 {
		n := min(len(msgs), publishChunk)
		futures := make([]jetstream.PubAckFuture, 0, n)
		for _, m := range msgs[:n] {
			f, err := js.PublishMsgAsync(m)
			if err != nil {
				return dups, fmt.Errorf("publish on %s: %w", m.Subject, err)
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case ack := <-f.Ok():
				if ack.Duplicate {
					dups++
				}
			case err := <-f.Err():
				return dups, fmt.Errorf("publish %s on %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), f.Msg().Subject, err)
			case <-ctx.Done():
				return dups, ctx.Err()
			}
		}
		msgs = msgs[n:]
	}
	return dups, nil
}

// Facts is the dormant.user.synced data of u, with the names read from its person. Roles are
// sorted so that OpenMRS's order does not count as a change; the volatile properties are left
// out.
func Facts(u openmrs.User, given, family string) *events.UserSynced {
	roles := make([]string, 0, len(u.Roles))
	for _, r := range u.Roles {
		if r.Name != "" && !slices.Contains(roles, r.Name) {
			roles = append(roles, r.Name)
		}
	}
	slices.Sort(roles)
	var props map[string]string
	for k, v := range u.UserProperties {
		if slices.Contains(VolatileProperties, k) {
			continue
		}
		if props == nil {
			props = map[string]string{}
		}
		props[k] = v
	}
	d := &events.UserSynced{
		UserUUID: u.UUID, Username: u.Username, SystemID: u.SystemID,
		GivenName: given, FamilyName: family, Email: u.Email,
		Roles: roles, CreatedAt: u.DateCreated.UTC(), Retired: u.Retired, Properties: props,
	}
	if u.Retired {
		d.RetireReason = u.RetireReason
	}
	return d
}

// Fingerprint identifies the facts d carries: equal facts, equal fingerprints. encoding/json
// writes struct fields in order and map keys sorted, so the encoding is canonical.
func Fingerprint(d *events.UserSynced) string {
	b, err := json.Marshal(d)
	if err != nil {
		// Strings, bools, a time and maps of strings always encode.
		panic(fmt.Sprintf("roster: encode facts of %s: %v", d.UserUUID, err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// EventID is the id of the dormant.user.synced event carrying the facts with fingerprint fp.
func EventID(site, userUUID, fp string) string {
	return events.DerivedID("user.synced", site, userUUID, fp)
}

// Schedule runs each syncer at once and then every interval, until ctx ends. A failed sync
// is retried sooner, after retry doubling up to interval, and resumes where it stopped.
type Schedule struct {
	Syncers  []*Syncer
	Interval time.Duration
	// Retry is the first wait after a failure (default 1 minute).
	Retry time.Duration
	Log   *zap.Logger
}

// Run implements the policy service's component.
func (sc *Schedule) Run(ctx context.Context) error {
	if sc.Interval <= 0 || len(sc.Syncers) == 0 {
		return nil
	}
	retry := sc.Retry
	if retry <= 0 {
		retry = time.Minute
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range sc.Syncers {
		g.Go(func() error {
			wait := retry
			for {
				_, err := s.Sync(gctx)
				if gctx.Err() != nil {
					return nil
				}
				next := sc.Interval
				if err != nil {
					next = min(wait, sc.Interval)
					wait = min(2*wait, sc.Interval)
					fields := []zap.Field{zap.String("site", s.site), zap.Duration("retry_in", next), zap.Error(err)}
					if openmrs.IsUnauthorized(err) || openmrs.IsForbidden(err) {
						// Retrying will not help until an admin fixes the account; say so.
						fields = append(fields, zap.String("hint", "check the site's openmrs_user, its password and its privileges with `dormant doctor`"))
					}
					sc.Log.Error("roster sync failed; it will resume where it stopped", fields...)
				} else {
					wait = retry
				}
				t := time.NewTimer(next)
				select {
				case <-gctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			}
		})
	}
	return g.Wait()
}
