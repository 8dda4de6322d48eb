package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// userCols and stateCols read a user joined (LEFT) with its state; scanCandidate reads them.
const userCols = `u.user_uuid, u.username, u.system_id, u.given_name, u.family_name, u.email, u.roles, u.properties,
	u.created_at, u.retired, u.last_login_at,
	s.rule, s.anchor, s.due, s.deactivate_on, s.warned_ns, s.requested, s.dry_run`

type scanner interface{ Scan(dest ...any) error }

func fromMicro(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func micro(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func scanCandidate(site string, row scanner) (policy.Candidate, error) {
	var c policy.Candidate
	u := &c.User
	u.Site = site
	var roles, props string
	var created, last, anchor, due, deactivateOn, warned sql.NullInt64
	var rule sql.NullString
	var requested, dryRun sql.NullBool
	if err := row.Scan(&u.UUID, &u.Username, &u.SystemID, &u.GivenName, &u.FamilyName, &u.Email, &roles, &props,
		&created, &u.Retired, &last, &rule, &anchor, &due, &deactivateOn, &warned, &requested, &dryRun); err != nil {
		return c, err
	}
	u.CreatedAt = fromMicro(created)
	if last.Valid {
		t := fromMicro(last)
		u.LastLoginAt = &t
	}
	if rule.Valid {
		c.State = policy.State{Rule: rule.String, Anchor: fromMicro(anchor), Due: fromMicro(due), DeactivateOn: fromMicro(deactivateOn),
			Warned: time.Duration(warned.Int64), Requested: requested.Bool, DryRun: dryRun.Bool}
	}
	return c, policy.DecodeFacts(u, []byte(roles), []byte(props))
}

// SiteState implements policy.DecisionStore.
func (s *Store) SiteState(ctx context.Context, site string) (policy.SiteState, error) {
	st := policy.SiteState{Site: site}
	var baseline, last, feed sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT baseline, last_tick, last_feed_at, demo_key FROM policy_sites WHERE site = ?`, site).
		Scan(&baseline, &last, &feed, &st.DemoKey)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read site state of %s: %w", site, err)
	}
	st.Baseline, st.LastTick, st.LastFeedAt = fromMicro(baseline), fromMicro(last), fromMicro(feed)
	return st, nil
}

// ClassifyDemo implements policy.DecisionStore.
func (s *Store) ClassifyDemo(ctx context.Context, site, key string, isDemo func(policy.User) bool) (int, error) {
	n := 0
	err := s.inTx(ctx, "classify demo accounts of "+site, nil, func(tx *sql.Tx) error {
		var current string
		err := tx.QueryRowContext(ctx, `SELECT demo_key FROM policy_sites WHERE site = ?`, site).Scan(&current)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if current != key {
			// New criteria: every flag is stale. A policy change is rare; this pass is its cost.
			if _, err := tx.ExecContext(ctx, `UPDATE policy_users SET is_demo = NULL WHERE site = ? AND is_demo IS NOT NULL`, site); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT user_uuid, username, system_id, family_name, properties FROM policy_users WHERE site = ? AND is_demo IS NULL`, site)
		if err != nil {
			return err
		}
		flags := map[string]bool{}
		for rows.Next() {
			u := policy.User{Site: site}
			var props string
			if err := rows.Scan(&u.UUID, &u.Username, &u.SystemID, &u.FamilyName, &props); err != nil {
				rows.Close()
				return err
			}
			if err := json.Unmarshal([]byte(props), &u.Properties); err != nil {
				rows.Close()
				return fmt.Errorf("decode properties of %s: %w", u.UUID, err)
			}
			flags[u.UUID] = isDemo(u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `UPDATE policy_users SET is_demo = ? WHERE site = ? AND user_uuid = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for id, demo := range flags {
			if _, err := stmt.ExecContext(ctx, demo, site, id); err != nil {
				return err
			}
		}
		n = len(flags)
		_, err = tx.ExecContext(ctx, `INSERT INTO policy_sites (site, demo_key) VALUES (?, ?)
			ON CONFLICT (site) DO UPDATE SET demo_key = excluded.demo_key`, site, key)
		return err
	})
	return n, err
}

// Candidates implements policy.DecisionStore. Each branch of the UNION is served by its own
// partial index, so the users a tick does not need are never read.
func (s *Store) Candidates(ctx context.Context, site string, baseline time.Time, c *policy.Cutoffs) ([]policy.Candidate, error) {
	q := `WITH c AS (SELECT user_uuid FROM policy_states WHERE site = ?1)`
	args := []any{site}
	if c != nil {
		q = `WITH c AS (
	SELECT user_uuid FROM policy_users WHERE site = ?1 AND retired = 0 AND last_login_at < ?2
	UNION
	SELECT user_uuid FROM policy_users WHERE site = ?1 AND retired = 0 AND last_login_at IS NULL
		AND ?3 < ?2 AND (created_at IS NULL OR created_at < ?2)
	UNION
	SELECT user_uuid FROM policy_users WHERE site = ?1 AND is_demo = 1 AND retired = 0 AND created_at < ?4
	UNION
	SELECT user_uuid FROM policy_states WHERE site = ?1)`
		args = append(args, c.ActivityBefore.UnixMicro(), baseline.UnixMicro(), c.DemoCreatedBefore.UnixMicro())
	}
	q += `
SELECT ` + userCols + `
FROM c JOIN policy_users u ON u.site = ?1 AND u.user_uuid = c.user_uuid
LEFT JOIN policy_states s ON s.site = ?1 AND s.user_uuid = c.user_uuid
WHERE u.synced_at IS NOT NULL`
	rows, err := s.db.QueryContext(ctx, q, args...)
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
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+`
FROM policy_users u LEFT JOIN policy_states s ON s.site = u.site AND s.user_uuid = u.user_uuid
WHERE u.site = ? AND u.synced_at IS NOT NULL ORDER BY u.user_uuid`, site)
	if err != nil {
		return fmt.Errorf("read users of %s: %w", site, err)
	}
	// SQLite has one connection: read everything before calling fn, which may query too.
	var all []policy.Candidate
	for rows.Next() {
		c, err := scanCandidate(site, rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("read user of %s: %w", site, err)
		}
		all = append(all, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read users of %s: %w", site, err)
	}
	for _, c := range all {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// ActiveUsers implements policy.DecisionStore.
func (s *Store) ActiveUsers(ctx context.Context, site string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM policy_users WHERE site = ? AND retired = 0 AND synced_at IS NOT NULL`, site).Scan(&n); err != nil {
		return 0, fmt.Errorf("count active users of %s: %w", site, err)
	}
	return n, nil
}

// UserState implements policy.DecisionStore.
func (s *Store) UserState(ctx context.Context, site, userUUID string) (policy.State, error) {
	var st policy.State
	var anchor, due, deactivateOn sql.NullInt64
	var warned int64
	err := s.db.QueryRowContext(ctx, `SELECT rule, anchor, due, deactivate_on, warned_ns, requested, dry_run
		FROM policy_states WHERE site = ? AND user_uuid = ?`, site, userUUID).
		Scan(&st.Rule, &anchor, &due, &deactivateOn, &warned, &st.Requested, &st.DryRun)
	if errors.Is(err, sql.ErrNoRows) {
		return policy.State{}, nil
	}
	if err != nil {
		return st, fmt.Errorf("read state of %s at %s: %w", userUUID, site, err)
	}
	st.Anchor, st.Due, st.DeactivateOn, st.Warned = fromMicro(anchor), fromMicro(due), fromMicro(deactivateOn), time.Duration(warned)
	return st, nil
}

// UserByUsername implements policy.DecisionStore.
func (s *Store) UserByUsername(ctx context.Context, site, username string) (policy.User, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT user_uuid FROM policy_users WHERE site = ? AND lower(username) = lower(?)
		ORDER BY synced_at IS NULL, user_uuid LIMIT 1`, site, username).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return policy.User{}, policy.ErrNotFound
	}
	if err != nil {
		return policy.User{}, fmt.Errorf("find user %q at %s: %w", username, site, err)
	}
	return s.User(ctx, site, id)
}

// CommitTick implements policy.DecisionStore.
func (s *Store) CommitTick(ctx context.Context, c policy.TickCommit) error {
	return s.inTx(ctx, fmt.Sprintf("commit tick %s of %s", c.At, c.Site), c.History, func(tx *sql.Tx) error {
		// The guard in the WHERE makes a second commit of the same (or an older) tick a no-op
		// that the caller hears about.
		res, err := tx.ExecContext(ctx, `
INSERT INTO policy_sites (site, baseline, last_tick) VALUES (?, ?, ?)
ON CONFLICT (site) DO UPDATE SET last_tick = excluded.last_tick, baseline = COALESCE(policy_sites.baseline, excluded.baseline)
WHERE policy_sites.last_tick IS NULL OR policy_sites.last_tick < excluded.last_tick`, c.Site, micro(c.Baseline), micro(c.At))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return policy.ErrStaleTick
		}
		del, err := tx.PrepareContext(ctx, `DELETE FROM policy_states WHERE site = ? AND user_uuid = ?`)
		if err != nil {
			return err
		}
		defer del.Close()
		put, err := tx.PrepareContext(ctx, `
INSERT INTO policy_states (site, user_uuid, rule, anchor, due, deactivate_on, warned_ns, requested, dry_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (site, user_uuid) DO UPDATE SET rule = excluded.rule, anchor = excluded.anchor, due = excluded.due,
    deactivate_on = excluded.deactivate_on, warned_ns = excluded.warned_ns, requested = excluded.requested, dry_run = excluded.dry_run`)
		if err != nil {
			return err
		}
		defer put.Close()
		for _, ch := range c.States {
			st := ch.State
			if st.IsZero() {
				_, err = del.ExecContext(ctx, c.Site, ch.UserUUID)
			} else {
				_, err = put.ExecContext(ctx, c.Site, ch.UserUUID, st.Rule, st.Anchor.UnixMicro(), st.Due.UnixMicro(), st.DeactivateOn.UnixMicro(),
					int64(st.Warned), st.Requested, st.DryRun)
			}
			if err != nil {
				return fmt.Errorf("state of %s: %w", ch.UserUUID, err)
			}
		}
		if h := c.Held; h != nil {
			reqs, err := json.Marshal(h.Requests)
			if err != nil {
				return fmt.Errorf("encode held batch %s: %w", h.BatchID, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO policy_held (site, batch_id, tick, reason, lim, requests, status)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site, batch_id) DO NOTHING`,
				h.Site, h.BatchID, h.Tick.UnixMicro(), h.Reason, h.Limit, string(reqs), string(policy.HeldPending)); err != nil {
				return fmt.Errorf("store held batch %s: %w", h.BatchID, err)
			}
		}
		return nil
	})
}

// inTx runs fn and records h in one transaction.
func (s *Store) inTx(ctx context.Context, what string, h []policy.HistoryEntry, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		if errors.Is(err, policy.ErrNotFound) || errors.Is(err, policy.ErrNotPending) || errors.Is(err, policy.ErrStaleTick) {
			return err
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(h) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO policy_history (site, user_uuid, kind, at, policy_version, by_user, reason, event_id, batch_id, would_be)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("%s: record history: %w", what, err)
		}
		defer stmt.Close()
		for _, e := range h {
			if _, err := stmt.ExecContext(ctx, e.Site, e.UserUUID, e.Kind, e.At.UnixMicro(), e.PolicyVersion, e.By, e.Reason, e.EventID, e.BatchID, e.WouldBe); err != nil {
				return fmt.Errorf("%s: record history: %w", what, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Exemptions implements policy.DecisionStore.
func (s *Store) Exemptions(ctx context.Context, site string) ([]policy.Exemption, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT user_uuid, reason, by_user, until, created_at FROM policy_exemptions WHERE site = ? ORDER BY user_uuid`, site)
	if err != nil {
		return nil, fmt.Errorf("read exemptions of %s: %w", site, err)
	}
	defer rows.Close()
	var out []policy.Exemption
	for rows.Next() {
		var e policy.Exemption
		var until, created sql.NullInt64
		if err := rows.Scan(&e.UserUUID, &e.Reason, &e.By, &until, &created); err != nil {
			return nil, fmt.Errorf("read exemption of %s: %w", site, err)
		}
		e.CreatedAt = fromMicro(created)
		if until.Valid {
			t := fromMicro(until)
			e.Until = &t
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PutExemption implements policy.DecisionStore.
func (s *Store) PutExemption(ctx context.Context, site string, e policy.Exemption, h policy.HistoryEntry) error {
	var until any
	if e.Until != nil {
		until = e.Until.UnixMicro()
	}
	return s.inTx(ctx, "put exemption of "+e.UserUUID, []policy.HistoryEntry{h}, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO policy_exemptions (site, user_uuid, reason, by_user, until, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (site, user_uuid) DO UPDATE SET reason = excluded.reason, by_user = excluded.by_user, until = excluded.until, created_at = excluded.created_at`,
			site, e.UserUUID, e.Reason, e.By, until, e.CreatedAt.UnixMicro())
		return err
	})
}

// EndExemption implements policy.DecisionStore.
func (s *Store) EndExemption(ctx context.Context, site, userUUID string, until time.Time, h policy.HistoryEntry) error {
	return s.inTx(ctx, "end exemption of "+userUUID, []policy.HistoryEntry{h}, func(tx *sql.Tx) error {
		return affectOne(tx.ExecContext(ctx, `UPDATE policy_exemptions SET until = ? WHERE site = ? AND user_uuid = ?`, until.UnixMicro(), site, userUUID))
	})
}

// RemoveExemption implements policy.DecisionStore.
func (s *Store) RemoveExemption(ctx context.Context, site, userUUID string, h policy.HistoryEntry) error {
	return s.inTx(ctx, "remove exemption of "+userUUID, []policy.HistoryEntry{h}, func(tx *sql.Tx) error {
		return affectOne(tx.ExecContext(ctx, `DELETE FROM policy_exemptions WHERE site = ? AND user_uuid = ?`, site, userUUID))
	})
}

func affectOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return policy.ErrNotFound
	}
	return nil
}

const heldCols = `site, batch_id, tick, reason, lim, requests, status, decided_by, decided_at`

func scanHeld(row scanner) (policy.HeldBatch, error) {
	var b policy.HeldBatch
	var reqs, status string
	var tick, decided sql.NullInt64
	if err := row.Scan(&b.Site, &b.BatchID, &tick, &b.Reason, &b.Limit, &reqs, &status, &b.DecidedBy, &decided); err != nil {
		return b, err
	}
	b.Tick, b.Status, b.DecidedAt = fromMicro(tick), policy.HeldStatus(status), fromMicro(decided)
	if err := json.Unmarshal([]byte(reqs), &b.Requests); err != nil {
		return b, fmt.Errorf("decode held batch %s: %w", b.BatchID, err)
	}
	return b, nil
}

// HeldBatch implements policy.DecisionStore.
func (s *Store) HeldBatch(ctx context.Context, site, batchID string) (policy.HeldBatch, error) {
	b, err := scanHeld(s.db.QueryRowContext(ctx, `SELECT `+heldCols+` FROM policy_held WHERE site = ? AND batch_id = ?`, site, batchID))
	if errors.Is(err, sql.ErrNoRows) {
		return b, policy.ErrNotFound
	}
	if err != nil {
		return b, fmt.Errorf("read held batch %s of %s: %w", batchID, site, err)
	}
	return b, nil
}

// HeldBatches implements policy.DecisionStore.
func (s *Store) HeldBatches(ctx context.Context, site string, status policy.HeldStatus) ([]policy.HeldBatch, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+heldCols+` FROM policy_held WHERE site = ?1 AND (?2 = '' OR status = ?2)
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
	return s.inTx(ctx, "decide held batch "+batchID, h, func(tx *sql.Tx) error {
		var current string
		err := tx.QueryRowContext(ctx, `SELECT status FROM policy_held WHERE site = ? AND batch_id = ?`, site, batchID).Scan(&current)
		if errors.Is(err, sql.ErrNoRows) {
			return policy.ErrNotFound
		}
		if err != nil {
			return err
		}
		if current != string(policy.HeldPending) {
			return policy.ErrNotPending
		}
		_, err = tx.ExecContext(ctx, `UPDATE policy_held SET status = ?, decided_by = ?, decided_at = ? WHERE site = ? AND batch_id = ?`,
			string(status), by, at.UnixMicro(), site, batchID)
		if err != nil {
			return err
		}
		return dueAgain(ctx, tx, site, due)
	})
}

// dueAgain applies the DueAgain changes whose user is still on the held plan, compared inside
// the transaction (SQLite has one writer: no tick commits in between).
func dueAgain(ctx context.Context, tx *sql.Tx, site string, due []policy.DueAgain) error {
	for _, d := range due {
		if _, err := dueAgainOne(ctx, tx, site, d); err != nil {
			return err
		}
	}
	return nil
}

// dueAgainOne applies d if its user is still on the plan and reports whether it did.
func dueAgainOne(ctx context.Context, tx *sql.Tx, site string, d policy.DueAgain) (bool, error) {
	var st policy.State
	var anchor, dueAt, deactivateOn sql.NullInt64
	var warned int64
	err := tx.QueryRowContext(ctx, `SELECT rule, anchor, due, deactivate_on, warned_ns, requested, dry_run
		FROM policy_states WHERE site = ? AND user_uuid = ?`, site, d.UserUUID).
		Scan(&st.Rule, &anchor, &dueAt, &deactivateOn, &warned, &st.Requested, &st.DryRun)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read state of %s: %w", d.UserUUID, err)
	}
	st.Anchor, st.Due, st.DeactivateOn, st.Warned = fromMicro(anchor), fromMicro(dueAt), fromMicro(deactivateOn), time.Duration(warned)
	if !policy.StillHeld(site, d.UserUUID, st, d.DecisionID) {
		return false, nil
	}
	n := d.State
	if n.IsZero() {
		if _, err := tx.ExecContext(ctx, `DELETE FROM policy_states WHERE site = ? AND user_uuid = ?`, site, d.UserUUID); err != nil {
			return false, fmt.Errorf("clear state of %s: %w", d.UserUUID, err)
		}
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE policy_states SET rule = ?, anchor = ?, due = ?, deactivate_on = ?, warned_ns = ?,
		requested = ?, dry_run = ? WHERE site = ? AND user_uuid = ?`,
		n.Rule, n.Anchor.UnixMicro(), n.Due.UnixMicro(), n.DeactivateOn.UnixMicro(), int64(n.Warned), n.Requested, n.DryRun, site, d.UserUUID); err != nil {
		return false, fmt.Errorf("store state of %s: %w", d.UserUUID, err)
	}
	return true, nil
}

// History implements policy.DecisionStore.
func (s *Store) History(ctx context.Context, site, userUUID string) ([]policy.HistoryEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT site, user_uuid, kind, at, policy_version, by_user, reason, event_id, batch_id, would_be
		FROM policy_history WHERE site = ?1 AND (?2 = '' OR user_uuid = ?2) ORDER BY id`, site, userUUID)
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", site, err)
	}
	defer rows.Close()
	var out []policy.HistoryEntry
	for rows.Next() {
		var e policy.HistoryEntry
		var at int64
		if err := rows.Scan(&e.Site, &e.UserUUID, &e.Kind, &at, &e.PolicyVersion, &e.By, &e.Reason, &e.EventID, &e.BatchID, &e.WouldBe); err != nil {
			return nil, fmt.Errorf("read history of %s: %w", site, err)
		}
		e.At = time.UnixMicro(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// RecordFailure implements policy.DecisionStore.
func (s *Store) RecordFailure(ctx context.Context, f policy.DeactivationFailure) (policy.FailureOutcome, error) {
	var out policy.FailureOutcome
	// The history is written inside fn, not by inTx: which entry (if any) depends on what
	// the transaction finds.
	err := s.inTx(ctx, "record failed deactivation "+f.Due.DecisionID, nil, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM policy_history WHERE site = ? AND user_uuid = ? AND kind = ? AND event_id = ?`,
			f.Site, f.Due.UserUUID, policy.HistoryFailureRecorded, f.EventID).Scan(&n); err != nil {
			return fmt.Errorf("read history: %w", err)
		}
		if n > 0 {
			out = policy.FailureDuplicate
			return nil
		}
		applied, err := dueAgainOne(ctx, tx, f.Site, f.Due)
		if err != nil {
			return err
		}
		if !applied && !f.Settle {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM policy_history WHERE site = ? AND user_uuid = ? AND event_id = ? AND kind IN (?, ?)`,
				f.Site, f.Due.UserUUID, f.Due.DecisionID, policy.HistoryRequested, policy.HistoryReleased).Scan(&n); err != nil {
				return fmt.Errorf("read history: %w", err)
			}
			if n == 0 {
				return policy.ErrNotCommitted
			}
		}
		h := f.Kept
		out = policy.FailureKept
		if applied {
			h, out = f.Applied, policy.FailureDueAgain
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO policy_history (site, user_uuid, kind, at, policy_version, by_user, reason, event_id, batch_id, would_be)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, f.Site, f.Due.UserUUID, policy.HistoryFailureRecorded, h.At.UnixMicro(), h.PolicyVersion, h.By, h.Reason, f.EventID, h.BatchID, h.WouldBe)
		if err != nil {
			return fmt.Errorf("record history: %w", err)
		}
		return nil
	})
	return out, err
}
