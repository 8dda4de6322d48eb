package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dormant-dev/dormant/services/policy"
)

var _ policy.UpcomingStore = (*Store)(nil)

// upcomingOrder is each sort's ORDER BY. COLLATE "C" compares bytes, so the order is Go's
// string order whatever the database's collation; the uuid breaks ties.
var upcomingOrder = map[policy.UpcomingSort]string{
	policy.SortDeactivateOn: `s.deactivate_on, u.user_uuid COLLATE "C"`,
	policy.SortUsername:     `lower(u.username) COLLATE "C", u.user_uuid COLLATE "C"`,
	policy.SortLastActivity: `s.anchor, u.user_uuid COLLATE "C"`,
	policy.SortRule:         `s.rule COLLATE "C", u.user_uuid COLLATE "C"`,
}

// Upcoming implements policy.UpcomingStore: the page and its total over one snapshot, so
// they agree while ticks write. The search is strpos over lower(), not
// LIKE, so the admin's % and _ are plain characters; lower() lower-cases rune by rune as
// strings.ToLower does in a UTF-8 database locale (C.UTF-8, en_US.UTF-8, ...).
func (s *Store) Upcoming(ctx context.Context, site string, q policy.UpcomingQuery) (policy.UpcomingPage, error) {
	if err := q.Validate(); err != nil {
		return policy.UpcomingPage{}, err
	}
	now := q.Now.Truncate(time.Microsecond)
	args := []any{site, now, time.Time{}}
	where := `u.site = $1 AND u.synced_at IS NOT NULL AND NOT u.retired AND NOT s.requested AND s.deactivate_on <> $3
  AND NOT EXISTS (SELECT 1 FROM policy_exemptions e WHERE e.site = u.site AND e.user_uuid = u.user_uuid
                  AND e.created_at <= $2 AND (e.until IS NULL OR e.until > $2))`
	if q.UserUUID != "" {
		args = append(args, q.UserUUID)
		where += fmt.Sprintf(" AND u.user_uuid = $%d", len(args))
	}
	if q.Search != "" {
		args = append(args, q.SearchKey(), policy.SpaceChars)
		where += fmt.Sprintf(` AND strpos(lower(u.username || ' ' || btrim(u.given_name || ' ' || u.family_name, $%d) || ' ' || u.user_uuid || ' ' || s.rule), $%d) > 0`,
			len(args), len(args)-1)
	}
	from := ` FROM policy_states s JOIN policy_users u ON u.site = s.site AND u.user_uuid = s.user_uuid WHERE s.site = $1 AND ` + where

	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return policy.UpcomingPage{}, fmt.Errorf("upcoming of %s: %w", site, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// One pass gives the page and, by count(*) OVER (), the total; only a page past the
	// last finds no row to carry it, and then the count and the last page are asked for.
	page := func(offset int, limit any) ([]policy.Upcoming, int, error) {
		rows, err := tx.Query(ctx, `SELECT u.user_uuid, u.username, u.given_name, u.family_name, u.last_login_at,
       s.rule, s.anchor, s.due, s.deactivate_on, s.warned_ns, s.requested, s.dry_run, count(*) OVER ()`+from+
			` ORDER BY `+upcomingOrder[q.Sort]+fmt.Sprintf(` OFFSET $%d LIMIT $%d`, len(args)+1, len(args)+2), append(args, offset, limit)...)
		if err != nil {
			return nil, 0, err
		}
		defer rows.Close()
		var out []policy.Upcoming
		total := 0
		for rows.Next() {
			var u policy.Upcoming
			st := &u.State
			var warned int64
			if err := rows.Scan(&u.UserUUID, &u.Username, &u.GivenName, &u.FamilyName, &u.LastLoginAt,
				&st.Rule, &st.Anchor, &st.Due, &st.DeactivateOn, &warned, &st.Requested, &st.DryRun, &total); err != nil {
				return nil, 0, err
			}
			if u.LastLoginAt != nil {
				t := u.LastLoginAt.UTC()
				u.LastLoginAt = &t
			}
			st.Anchor, st.Due, st.DeactivateOn, st.Warned = st.Anchor.UTC(), st.Due.UTC(), st.DeactivateOn.UTC(), time.Duration(warned)
			out = append(out, u)
		}
		return out, total, rows.Err()
	}
	var p policy.UpcomingPage
	var limit any // NULL: every row
	offset := 0
	if q.PageSize > 0 {
		limit, offset = q.PageSize, (max(q.Page, 1)-1)*q.PageSize
	}
	if p.Rows, p.Total, err = page(offset, limit); err != nil {
		return p, fmt.Errorf("upcoming of %s: %w", site, err)
	}
	if len(p.Rows) == 0 && offset > 0 {
		if err := tx.QueryRow(ctx, `SELECT count(*)`+from, args...).Scan(&p.Total); err != nil {
			return p, fmt.Errorf("upcoming of %s: count: %w", site, err)
		}
		if _, _, offset, _ = q.Window(p.Total); p.Total > 0 {
			if p.Rows, _, err = page(offset, limit); err != nil {
				return p, fmt.Errorf("upcoming of %s: %w", site, err)
			}
		}
	}
	p.Page, p.Pages, _, _ = q.Window(p.Total)
	return p, nil
}
