package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dormant-dev/dormant/services/policy"
)

// userCols and stateCols read a user joined (LEFT) with its state; scanCandidate reads them.
const userCols = `u.user_uuid, u.username, u.system_id, u.given_name, u.family_name, u.email, u.roles, u.properties,
	u.created_at, u.retired, u.last_login_at,
	s.rule, s.anchor, s.due, s.deactivate_on, s.warned_ns, s.requested, s.dry_run`

func scanCandidate(site string, row pgx.Row) (policy.Candidate, error) {
	var c policy.Candidate
	u := &c.User
	u.Site = site
	var roles, props []byte
	var created *time.Time
	var rule *string
	var anchor, due, deactivateOn *time.Time
	var warned *int64
	var requested, dryRun *bool
	if err := row.Scan(&u.UUID, &u.Username, &u.SystemID, &u.GivenName, &u.FamilyName, &u.Email, &roles, &props,
		&created, &u.Retired, &u.LastLoginAt, &rule, &anchor, &due, &deactivateOn, &warned, &requested, &dryRun); err != nil {
		return c, err
	}
	if created != nil {
		u.CreatedAt = created.UTC()
	}
	if u.LastLoginAt != nil {
		t := u.LastLoginAt.UTC()
		u.LastLoginAt = &t
	}
	if rule != nil {
		c.State = policy.State{Rule: *rule, Anchor: anchor.UTC(), Due: due.UTC(), DeactivateOn: deactivateOn.UTC(),
			Warned: time.Duration(*warned), Requested: *requested, DryRun: *dryRun}
	}
	return c, policy.DecodeFacts(u, roles, props)
}

// SiteState implements policy.DecisionStore.
func (s *Store) SiteState(ctx context.Context, site string) (policy.SiteState, error) {
	st := policy.SiteState{Site: site}
	var baseline, last, feed *time.Time
	err := s.pool.QueryRow(ctx, `SELECT baseline, last_tick, last_feed_at, demo_key FROM policy_sites WHERE site = $1`, site).
		Scan(&baseline, &last, &feed, &st.DemoKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read site state of %s: %w", site, err)
	}
	st.Baseline, st.LastTick, st.LastFeedAt = utc(baseline), utc(last), utc(feed)
	return st, nil
}

// ClassifyDemo implements policy.DecisionStore.
func (s *Store) ClassifyDemo(ctx context.Context, site, key string, isDemo func(policy.User) bool) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("classify demo accounts of %s: %w", site, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var current string
	err = tx.QueryRow(ctx, `SELECT demo_key FROM policy_sites WHERE site = $1 FOR UPDATE`, site).Scan(&current)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("classify demo accounts of %s: %w", site, err)
	}
	if current != key {
		// New criteria: every flag is stale. A policy change is rare; this pass is its cost.
		if _, err := tx.Exec(ctx, `UPDATE policy_users SET is_demo = NULL WHERE site = $1 AND is_demo IS NOT NULL`, site); err != nil {
			return 0, fmt.Errorf("reset demo flags of %s: %w", site, err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT user_uuid, username, system_id, family_name, properties FROM policy_users WHERE site = $1 AND is_demo IS NULL`, site)
	if err != nil {
		return 0, fmt.Errorf("read unclassified users of %s: %w", site, err)
	}
	var demo, plain []string
	for rows.Next() {
		u := policy.User{Site: site}
		var props []byte
		if err := rows.Scan(&u.UUID, &u.Username, &u.SystemID, &u.FamilyName, &props); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read unclassified users of %s: %w", site, err)
		}
		if err := json.Unmarshal(props, &u.Properties); err != nil {
			rows.Close()
			return 0, fmt.Errorf("decode properties of %s: %w", u.UUID, err)
		}
		if isDemo(u) {
			demo = append(demo, u.UUID)
		} else {
			plain = append(plain, u.UUID)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read unclassified users of %s: %w", site, err)
	}
	for flag, ids := range map[bool][]string{true: demo, false: plain} {
		if len(ids) == 0 {
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE policy_users SET is_demo = $3 WHERE site = $1 AND user_uuid = ANY($2)`, site, ids, flag); err != nil {
			return 0, fmt.Errorf("store demo flags of %s: %w", site, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO policy_sites (site, demo_key) VALUES ($1, $2)
		ON CONFLICT (site) DO UPDATE SET demo_key = EXCLUDED.demo_key`, site, key); err != nil {
		return 0, fmt.Errorf("store demo key of %s: %w", site, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("classify demo accounts of %s: %w", site, err)
	}
	return len(demo) + len(plain), nil
}

// Candidates implements policy.DecisionStore. Each branch of the UNION is served by its own
// partial index, so the users a tick does not need are never read.
func (s *Store) Candidates(ctx context.Context, site string, baseline time.Time, c *policy.Cutoffs) ([]policy.Candidate, error) {
	q := `WITH c AS (SELECT user_uuid FROM policy_states WHERE site = $1)`
	args := []any{site}
	if c != nil {
		q = `WITH c AS (
	SELECT user_uuid FROM policy_users WHERE site = $1 AND NOT retired AND last_login_at < $2
	UNION
	SELECT user_uuid FROM policy_users WHERE site = $1 AND NOT retired AND last_login_at IS NULL
		AND $3::timestamptz < $2 AND (created_at IS NULL OR created_at < $2)
	UNION
	SELECT user_uuid FROM policy_users WHERE site = $1 AND is_demo AND NOT retired AND created_at < $4
	UNION
	SELECT user_uuid FROM policy_states WHERE site = $1)`
		args = append(args, c.ActivityBefore, baseline, c.DemoCreatedBefore)
	}
	q += `
SELECT ` + userCols + `
FROM c JOIN policy_users u ON u.site = $1 AND u.user_uuid = c.user_uuid
LEFT JOIN policy_states s ON s.site = $1 AND s.user_uuid = c.user_uuid
WHERE u.synced_at IS NOT NULL`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("preselect candidates of %s: %w", site, err)
	}
	defer rows.Close()
	var out []policy.Candidate
	for rows.Next() {
		cand, err := scanCandidate(site, rows)
		if err != nil {
			return nil, fmt.Errorf("read candidate of %s: %w", site, err)
		}
		out = append(out, cand)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("preselect candidates of %s: %w", site, err)
	}
	return out, nil
}

// EachUser implements policy.DecisionStore.
func (s *Store) EachUser(ctx context.Context, site string, fn func(policy.Candidate) error) error {
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+`
FROM policy_users u LEFT JOIN policy_states s ON s.site = u.site AND s.user_uuid = u.user_uuid
WHERE u.site = $1 AND u.synced_at IS NOT NULL ORDER BY u.user_uuid`, site)
	if err != nil {
		return fmt.Errorf("read users of %s: %w", site, err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCandidate(site, rows)
		if err != nil {
			return fmt.Errorf("read user of %s: %w", site, err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read users of %s: %w", site, err)
	}
	return nil
}

// ActiveUsers implements policy.DecisionStore.
func (s *Store) ActiveUsers(ctx context.Context, site string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM policy_users WHERE site = $1 AND NOT retired AND synced_at IS NOT NULL`, site).Scan(&n); err != nil {
		return 0, fmt.Errorf("count active users of %s: %w", site, err)
	}
	return n, nil
}

// UserState implements policy.DecisionStore.
func (s *Store) UserState(ctx context.Context, site, userUUID string) (policy.State, error) {
	var st policy.State
	var warned int64
	err := s.pool.QueryRow(ctx, `SELECT rule, anchor, due, deactivate_on, warned_ns, requested, dry_run
		FROM policy_states WHERE site = $1 AND user_uuid = $2`, site, userUUID).
		Scan(&st.Rule, &st.Anchor, &st.Due, &st.DeactivateOn, &warned, &st.Requested, &st.DryRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return policy.State{}, nil
	}
	if err != nil {
		return st, fmt.Errorf("read state of %s at %s: %w", userUUID, site, err)
	}
	st.Anchor, st.Due, st.DeactivateOn, st.Warned = st.Anchor.UTC(), st.Due.UTC(), st.DeactivateOn.UTC(), time.Duration(warned)
	return st, nil
}

// UserByUsername implements policy.DecisionStore.
func (s *Store) UserByUsername(ctx context.Context, site, username string) (policy.User, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT user_uuid FROM policy_users WHERE site = $1 AND lower(username) = lower($2)
		ORDER BY synced_at IS NULL, user_uuid LIMIT 1`, site, username).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return policy.User{}, policy.ErrNotFound
	}
	if err != nil {
		return policy.User{}, fmt.Errorf("find user %q at %s: %w", username, site, err)
	}
	return s.User(ctx, site, id)
}

// CommitTick implements policy.DecisionStore.
func (s *Store) CommitTick(ctx context.Context, c policy.TickCommit) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("commit tick %s of %s: %w", c.At, c.Site, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// The guard in the WHERE makes a second commit of the same (or an older) tick a no-op
	// that the caller hears about, whichever replica gets there first.
	tag, err := tx.Exec(ctx, `
INSERT INTO policy_sites AS s (site, baseline, last_tick) VALUES ($1, $2, $3)
ON CONFLICT (site) DO UPDATE SET last_tick = EXCLUDED.last_tick, baseline = COALESCE(s.baseline, EXCLUDED.baseline)
WHERE s.last_tick IS NULL OR s.last_tick < EXCLUDED.last_tick`, c.Site, c.Baseline, c.At)
	if err != nil {
		return fmt.Errorf("commit tick %s of %s: %w", c.At, c.Site, err)
	}
	if tag.RowsAffected() == 0 {
		return policy.ErrStaleTick
	}
	var del []string
	var up struct {
		ids, rules                []string
		anchors, dues, deactivate []time.Time
		warned                    []int64
		requested, dryRun         []bool
	}
	for _, ch := range c.States {
		if ch.State.IsZero() {
			del = append(del, ch.UserUUID)
			continue
		}
		st := ch.State
		up.ids, up.rules = append(up.ids, ch.UserUUID), append(up.rules, st.Rule)
		up.anchors, up.dues, up.deactivate = append(up.anchors, st.Anchor), append(up.dues, st.Due), append(up.deactivate, st.DeactivateOn)
		up.warned, up.requested, up.dryRun = append(up.warned, int64(st.Warned)), append(up.requested, st.Requested), append(up.dryRun, st.DryRun)
	}
	if len(del) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM policy_states WHERE site = $1 AND user_uuid = ANY($2)`, c.Site, del); err != nil {
			return fmt.Errorf("clear states at %s: %w", c.Site, err)
		}
	}
	if len(up.ids) > 0 {
		_, err := tx.Exec(ctx, `
INSERT INTO policy_states (site, user_uuid, rule, anchor, due, deactivate_on, warned_ns, requested, dry_run)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[], $7::bigint[], $8::boolean[], $9::boolean[])
ON CONFLICT (site, user_uuid) DO UPDATE SET rule = EXCLUDED.rule, anchor = EXCLUDED.anchor, due = EXCLUDED.due,
    deactivate_on = EXCLUDED.deactivate_on, warned_ns = EXCLUDED.warned_ns, requested = EXCLUDED.requested, dry_run = EXCLUDED.dry_run`,
			c.Site, up.ids, up.rules, up.anchors, up.dues, up.deactivate, up.warned, up.requested, up.dryRun)
		if err != nil {
			return fmt.Errorf("store states at %s: %w", c.Site, err)
		}
	}
	if err := insertHistory(ctx, tx, c.History); err != nil {
		return err
	}
	if h := c.Held; h != nil {
		reqs, err := json.Marshal(h.Requests)
		if err != nil {
			return fmt.Errorf("encode held batch %s: %w", h.BatchID, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO policy_held (site, batch_id, tick, reason, lim, requests, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (site, batch_id) DO NOTHING`,
			h.Site, h.BatchID, h.Tick, h.Reason, h.Limit, reqs, string(policy.HeldPending)); err != nil {
			return fmt.Errorf("store held batch %s: %w", h.BatchID, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit tick %s of %s: %w", c.At, c.Site, err)
	}
	return nil
}

func insertHistory(ctx context.Context, tx pgx.Tx, h []policy.HistoryEntry) error {
	if len(h) == 0 {
		return nil
	}
	var sites, users, kinds, versions, by, reasons, evs, batches []string
	var at []time.Time
	var wouldBe []bool
	for _, e := range h {
		sites, users, kinds, versions = append(sites, e.Site), append(users, e.UserUUID), append(kinds, e.Kind), append(versions, e.PolicyVersion)
		by, reasons, evs, batches = append(by, e.By), append(reasons, e.Reason), append(evs, e.EventID), append(batches, e.BatchID)
		at, wouldBe = append(at, e.At), append(wouldBe, e.WouldBe)
	}
	// WITH ORDINALITY keeps the entries in the order given, so ids follow it.
	_, err := tx.Exec(ctx, `
INSERT INTO policy_history (site, user_uuid, kind, at, policy_version, by_user, reason, event_id, batch_id, would_be)
SELECT site, user_uuid, kind, at, policy_version, by_user, reason, event_id, batch_id, would_be
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::boolean[])
    WITH ORDINALITY AS h(site, user_uuid, kind, at, policy_version, by_user, reason, event_id, batch_id, would_be, n)
ORDER BY n`, sites, users, kinds, at, versions, by, reasons, evs, batches, wouldBe)
	if err != nil {
		return fmt.Errorf("record history: %w", err)
	}
	return nil
}

// Exemptions implements policy.DecisionStore.
func (s *Store) Exemptions(ctx context.Context, site string) ([]policy.Exemption, error) {
	rows, err := s.pool.Query(ctx, `SELECT user_uuid, reason, by_user, until, created_at FROM policy_exemptions WHERE site = $1 ORDER BY user_uuid`, site)
	if err != nil {
		return nil, fmt.Errorf("read exemptions of %s: %w", site, err)
	}
	defer rows.Close()
	var out []policy.Exemption
	for rows.Next() {
		var e policy.Exemption
		if err := rows.Scan(&e.UserUUID, &e.Reason, &e.By, &e.Until, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("read exemption of %s: %w", site, err)
		}
		e.CreatedAt = e.CreatedAt.UTC()
		if e.Until != nil {
			t := e.Until.UTC()
			e.Until = &t
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PutExemption implements policy.DecisionStore.
func (s *Store) PutExemption(ctx context.Context, site string, e policy.Exemption, h policy.HistoryEntry) error {
	return s.inTx(ctx, "put exemption of "+e.UserUUID, []policy.HistoryEntry{h}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO policy_exemptions (site, user_uuid, reason, by_user, until, created_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (site, user_uuid) DO UPDATE SET reason = EXCLUDED.reason, by_user = EXCLUDED.by_user, until = EXCLUDED.until, created_at = EXCLUDED.created_at`,
			site, e.UserUUID, e.Reason, e.By, e.Until, e.CreatedAt)
		return err
	})
}

// EndExemption implements policy.DecisionStore.
func (s *Store) EndExemption(ctx context.Context, site, userUUID string, until time.Time, h policy.HistoryEntry) error {
	return s.inTx(ctx, "end exemption of "+userUUID, []policy.HistoryEntry{h}, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE policy_exemptions SET until = $3 WHERE site = $1 AND user_uuid = $2`, site, userUUID, until)
		if err == nil && tag.RowsAffected() == 0 {
			return policy.ErrNotFound
		}
		return err
	})
}

// RemoveExemption implements policy.DecisionStore.
func (s *Store) RemoveExemption(ctx context.Context, site, userUUID string, h policy.HistoryEntry) error {
	return s.inTx(ctx, "remove exemption of "+userUUID, []policy.HistoryEntry{h}, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM policy_exemptions WHERE site = $1 AND user_uuid = $2`, site, userUUID)
		if err == nil && tag.RowsAffected() == 0 {
			return policy.ErrNotFound
		}
		return err
	})
}

// inTx runs fn and records h in one transaction.
func (s *Store) inTx(ctx context.Context, what string, h []policy.HistoryEntry, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		if errors.Is(err, policy.ErrNotFound) || errors.Is(err, policy.ErrNotPending) {
			return err
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := insertHistory(ctx, tx, h); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

const heldCols = `site, batch_id, tick, reason, lim, requests, status, decided_by, decided_at`

func scanHeld(row pgx.Row) (policy.HeldBatch, error) {
	var b policy.HeldBatch
	var reqs []byte
	var status string
	var decided *time.Time
	if err := row.Scan(&b.Site, &b.BatchID, &b.Tick, &b.Reason, &b.Limit, &reqs, &status, &b.DecidedBy, &decided); err != nil {
		return b, err
	}
	b.Tick, b.Status, b.DecidedAt = b.Tick.UTC(), policy.HeldStatus(status), utc(decided)
	if err := json.Unmarshal(reqs, &b.Requests); err != nil {
		return b, fmt.Errorf("decode held batch %s: %w", b.BatchID, err)
	}
	return b, nil
}

// HeldBatch implements policy.DecisionStore.
func (s *Store) HeldBatch(ctx context.Context, site, batchID string) (policy.HeldBatch, error) {
	b, err := scanHeld(s.pool.QueryRow(ctx, `SELECT `+heldCols+` FROM policy_held WHERE site = $1 AND batch_id = $2`, site, batchID))
	if errors.Is(err, pgx.ErrNoRows) {
		return b, policy.ErrNotFound
	}
	if err != nil {
		return b, fmt.Errorf("read held batch %s of %s: %w", batchID, site, err)
	}
	return b, nil
}

// HeldBatches implements policy.DecisionStore.
func (s *Store) HeldBatches(ctx context.Context, site string, status policy.HeldStatus) ([]policy.HeldBatch, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+heldCols+` FROM policy_held WHERE site = $1 AND ($2 = '' OR status = $2)
		ORDER BY tick DESC, batch_id`, site, string(status))
	if err != nil {
		return nil, fmt.Errorf("list held batches of %s: %w", site, err)
	}
	defer rows.Close()
	var out []policy.HeldBatch
	for rows.Next() {
		b, err := scanHeld(rows)
		if err != nil {
			return nil, fmt.Errorf("list held batches of %s: %w", site, err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// DecideHeld implements policy.DecisionStore.
func (s *Store) DecideHeld(ctx context.Context, site, batchID string, status policy.HeldStatus, by string, at time.Time, h []policy.HistoryEntry, due []policy.DueAgain) error {
	return s.inTx(ctx, "decide held batch "+batchID, h, func(tx pgx.Tx) error {
		var current string
		err := tx.QueryRow(ctx, `SELECT status FROM policy_held WHERE site = $1 AND batch_id = $2 FOR UPDATE`, site, batchID).Scan(&current)
		if errors.Is(err, pgx.ErrNoRows) {
			return policy.ErrNotFound
		}
		if err != nil {
			return err
		}
		if current != string(policy.HeldPending) {
			return policy.ErrNotPending
		}
		_, err = tx.Exec(ctx, `UPDATE policy_held SET status = $3, decided_by = $4, decided_at = $5 WHERE site = $1 AND batch_id = $2`,
			site, batchID, string(status), by, at)
		if err != nil {
			return err
		}
		return dueAgain(ctx, tx, site, due)
	})
}

// dueAgain applies the DueAgain changes whose user is still on the held plan. The row is
// locked while it is compared, so a tick committing a newer plan meanwhile either lands
// before (and the change is skipped) or waits for this transaction.
func dueAgain(ctx context.Context, tx pgx.Tx, site string, due []policy.DueAgain) error {
	for _, d := range due {
		if _, err := dueAgainOne(ctx, tx, site, d); err != nil {
			return err
		}
	}
	return nil
}

// dueAgainOne applies d if its user is still on the plan and reports whether it did.
func dueAgainOne(ctx context.Context, tx pgx.Tx, site string, d policy.DueAgain) (bool, error) {
	var st policy.State
	var warned int64
	err := tx.QueryRow(ctx, `SELECT rule, anchor, due, deactivate_on, warned_ns, requested, dry_run
		FROM policy_states WHERE site = $1 AND user_uuid = $2 FOR UPDATE`, site, d.UserUUID).
		Scan(&st.Rule, &st.Anchor, &st.Due, &st.DeactivateOn, &warned, &st.Requested, &st.DryRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read state of %s: %w", d.UserUUID, err)
	}
	st.Anchor, st.Due, st.DeactivateOn, st.Warned = st.Anchor.UTC(), st.Due.UTC(), st.DeactivateOn.UTC(), time.Duration(warned)
	if !policy.StillHeld(site, d.UserUUID, st, d.DecisionID) {
		return false, nil
	}
	n := d.State
	if n.IsZero() {
		if _, err := tx.Exec(ctx, `DELETE FROM policy_states WHERE site = $1 AND user_uuid = $2`, site, d.UserUUID); err != nil {
			return false, fmt.Errorf("clear state of %s: %w", d.UserUUID, err)
		}
		return true, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE policy_states SET rule = $3, anchor = $4, due = $5, deactivate_on = $6, warned_ns = $7,
		requested = $8, dry_run = $9 WHERE site = $1 AND user_uuid = $2`,
		site, d.UserUUID, n.Rule, n.Anchor, n.Due, n.DeactivateOn, int64(n.Warned), n.Requested, n.DryRun); err != nil {
		return false, fmt.Errorf("store state of %s: %w", d.UserUUID, err)
	}
	return true, nil
}

// RecordFailure implements policy.DecisionStore.
func (s *Store) RecordFailure(ctx context.Context, f policy.DeactivationFailure) (policy.FailureOutcome, error) {
	var out policy.FailureOutcome
	// The history is written inside fn, not by inTx: which entry (if any) depends on what
	// the transaction finds.
	err := s.inTx(ctx, "record failed deactivation "+f.Due.DecisionID, nil, func(tx pgx.Tx) error {
		// Two deliveries of the same event (a redelivery racing a slow first one, another
		// replica) serialise on this lock, so the second finds the first's entry. The state
		// row alone cannot serve: a user may have none.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "failure|"+f.Site+"|"+f.Due.UserUUID+"|"+f.EventID); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		var dup bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM policy_history WHERE site = $1 AND user_uuid = $2 AND kind = $3 AND event_id = $4)`,
			f.Site, f.Due.UserUUID, policy.HistoryFailureRecorded, f.EventID).Scan(&dup); err != nil {
			return fmt.Errorf("read history: %w", err)
		}
		if dup {
			out = policy.FailureDuplicate
			return nil
		}
		applied, err := dueAgainOne(ctx, tx, f.Site, f.Due)
		if err != nil {
			return err
		}
		if !applied && !f.Settle {
			var decided bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM policy_history WHERE site = $1 AND user_uuid = $2 AND event_id = $3 AND kind IN ($4, $5))`,
				f.Site, f.Due.UserUUID, f.Due.DecisionID, policy.HistoryRequested, policy.HistoryReleased).Scan(&decided); err != nil {
				return fmt.Errorf("read history: %w", err)
			}
			if !decided {
				return policy.ErrNotCommitted
			}
		}
		h := f.Kept
		out = policy.FailureKept
		if applied {
			h, out = f.Applied, policy.FailureDueAgain
		}
		_, err = tx.Exec(ctx, `INSERT INTO policy_history (site, user_uuid, kind, at, policy_version, by_user, reason, event_id, batch_id, would_be)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, f.Site, f.Due.UserUUID, policy.HistoryFailureRecorded, h.At, h.PolicyVersion, h.By, h.Reason, f.EventID, h.BatchID, h.WouldBe)
		if err != nil {
			return fmt.Errorf("record history: %w", err)
		}
		return nil
	})
	return out, err
}

// History implements policy.DecisionStore.
func (s *Store) History(ctx context.Context, site, userUUID string) ([]policy.HistoryEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT site, user_uuid, kind, at, policy_version, by_user, reason, event_id, batch_id, would_be
		FROM policy_history WHERE site = $1 AND ($2 = '' OR user_uuid = $2) ORDER BY id`, site, userUUID)
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", site, err)
	}
	defer rows.Close()
	var out []policy.HistoryEntry
	for rows.Next() {
		var e policy.HistoryEntry
		if err := rows.Scan(&e.Site, &e.UserUUID, &e.Kind, &e.At, &e.PolicyVersion, &e.By, &e.Reason, &e.EventID, &e.BatchID, &e.WouldBe); err != nil {
			return nil, fmt.Errorf("read history of %s: %w", site, err)
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
