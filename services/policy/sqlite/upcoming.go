package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite"

	"github.com/dormant-dev/dormant/services/policy"
)

var _ policy.UpcomingStore = (*Store)(nil)

// SQLite's lower() and LIKE fold ASCII only; dormant_lower folds as the admin page always
// has (strings.ToLower), so a search for "élodie" finds "ÉLODIE" here as on PostgreSQL.
func init() {
	sqlite3.MustRegisterDeterministicScalarFunction("dormant_lower", 1, func(_ *sqlite3.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		case nil:
			return nil, nil
		default:
			return nil, fmt.Errorf("dormant_lower: want text, got %T", v)
		}
	})
}

// upcomingOrder is each sort's ORDER BY: text compares bytewise (BINARY), as Go's strings
// do; the uuid breaks ties.
var upcomingOrder = map[policy.UpcomingSort]string{
	policy.SortDeactivateOn: `s.deactivate_on, u.user_uuid`,
	policy.SortUsername:     `dormant_lower(u.username), u.user_uuid`,
	policy.SortLastActivity: `s.anchor, u.user_uuid`,
	policy.SortRule:         `s.rule, u.user_uuid`,
}

// Upcoming implements policy.UpcomingStore: a count and one page in one transaction. The
// search is instr(), not LIKE, so the admin's % and _ are plain characters.
func (s *Store) Upcoming(ctx context.Context, site string, q policy.UpcomingQuery) (policy.UpcomingPage, error) {
	if err := q.Validate(); err != nil {
		return policy.UpcomingPage{}, err
	}
	args := []any{site, q.Now.Truncate(time.Microsecond).UnixMicro(), time.Time{}.UnixMicro()}
	where := `u.site = ?1 AND u.synced_at IS NOT NULL AND NOT u.retired AND NOT s.requested AND s.deactivate_on <> ?3
  AND NOT EXISTS (SELECT 1 FROM policy_exemptions e WHERE e.site = u.site AND e.user_uuid = u.user_uuid
                  AND e.created_at <= ?2 AND (e.until IS NULL OR e.until > ?2))`
	if q.UserUUID != "" {
		args = append(args, q.UserUUID)
		where += fmt.Sprintf(" AND u.user_uuid = ?%d", len(args))
	}
	if q.Search != "" {
		args = append(args, q.SearchKey(), policy.SpaceChars)
		where += fmt.Sprintf(` AND instr(dormant_lower(u.username || ' ' || trim(u.given_name || ' ' || u.family_name, ?%d) || ' ' || u.user_uuid || ' ' || s.rule), ?%d) > 0`,
			len(args), len(args)-1)
	}
	from := ` FROM policy_states s JOIN policy_users u ON u.site = s.site AND u.user_uuid = s.user_uuid WHERE s.site = ?1 AND ` + where

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return policy.UpcomingPage{}, fmt.Errorf("upcoming of %s: %w", site, err)
	}
	defer func() { _ = tx.Rollback() }()
	var p policy.UpcomingPage
	if err := tx.QueryRowContext(ctx, `SELECT count(*)`+from, args...).Scan(&p.Total); err != nil {
		return p, fmt.Errorf("upcoming of %s: count: %w", site, err)
	}
	var offset, limit int
	p.Page, p.Pages, offset, limit = q.Window(p.Total)
	if limit == 0 {
		return p, nil
	}
	args = append(args, limit, offset)
	rows, err := tx.QueryContext(ctx, `SELECT u.user_uuid, u.username, u.given_name, u.family_name, u.last_login_at,
       s.rule, s.anchor, s.due, s.deactivate_on, s.warned_ns, s.requested, s.dry_run`+from+
		` ORDER BY `+upcomingOrder[q.Sort]+fmt.Sprintf(` LIMIT ?%d OFFSET ?%d`, len(args)-1, len(args)), args...)
	if err != nil {
		return p, fmt.Errorf("upcoming of %s: %w", site, err)
	}
	defer rows.Close()
	p.Rows = make([]policy.Upcoming, 0, min(limit, p.Total))
	for rows.Next() {
		var u policy.Upcoming
		st := &u.State
		var last, anchor, due, deactivateOn sql.NullInt64
		var warned int64
		if err := rows.Scan(&u.UserUUID, &u.Username, &u.GivenName, &u.FamilyName, &last,
			&st.Rule, &anchor, &due, &deactivateOn, &warned, &st.Requested, &st.DryRun); err != nil {
			return p, fmt.Errorf("upcoming of %s: %w", site, err)
		}
		if last.Valid {
			t := fromMicro(last)
			u.LastLoginAt = &t
		}
		st.Anchor, st.Due, st.DeactivateOn, st.Warned = fromMicro(anchor), fromMicro(due), fromMicro(deactivateOn), time.Duration(warned)
		p.Rows = append(p.Rows, u)
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("upcoming of %s: %w", site, err)
	}
	return p, nil
}
