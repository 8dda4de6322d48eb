package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

var _ policy.CensusStore = (*Store)(nil)

// Census implements policy.CensusStore: three aggregate queries in one transaction, so the
// counts agree with each other even while ticks and logins write.
func (s *Store) Census(ctx context.Context, site string, q policy.CensusQuery) (policy.Census, error) {
	if err := q.Validate(); err != nil {
		return policy.Census{}, err
	}
	q = q.AtStorePrecision()
	c := policy.Census{Ages: make([]int, q.Buckets)}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return c, fmt.Errorf("census of %s: %w", site, err)
	}
	defer func() { _ = tx.Rollback() }()

	// Retired users fall in bucket -1; the others in the bucket their last activity gives
	// (policy.LastActivity in SQL; SQLite's MAX is NULL when an argument is, hence the
	// COALESCE for users without a creation date).
	args := []any{site, q.Baseline.UnixMicro()}
	var bucket strings.Builder
	bucket.WriteString("CASE")
	for k, edge := range q.BucketEdges() {
		args = append(args, edge.UnixMicro())
		fmt.Fprintf(&bucket, " WHEN act > ?%d THEN %d", len(args), k)
	}
	bucket.WriteString(" ELSE " + strconv.Itoa(q.Buckets-1) + " END")
	if q.Buckets == 1 {
		bucket.Reset()
		bucket.WriteString("0") // CASE needs a WHEN
	}
	rows, err := tx.QueryContext(ctx, `
SELECT CASE WHEN retired THEN -1 ELSE `+bucket.String()+` END AS bucket,
       count(*), COALESCE(SUM(last_login_at IS NULL), 0)
FROM (SELECT retired, last_login_at, COALESCE(last_login_at, MAX(COALESCE(created_at, ?2), ?2)) AS act
      FROM policy_users WHERE site = ?1 AND synced_at IS NOT NULL) u
GROUP BY 1`, args...)
	if err != nil {
		return c, fmt.Errorf("census of %s: count users: %w", site, err)
	}
	for rows.Next() {
		var b, n, never int
		if err := rows.Scan(&b, &n, &never); err != nil {
			rows.Close()
			return c, fmt.Errorf("census of %s: count users: %w", site, err)
		}
		c.AddRow(b, n, never)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("census of %s: count users: %w", site, err)
	}

	// A state's deactivate_on is the zero time when no day is planned yet.
	if err := tx.QueryRowContext(ctx, `
SELECT COALESCE(SUM(NOT s.requested AND s.warned_ns <> 0), 0),
       COALESCE(SUM(NOT s.requested AND s.deactivate_on > ?2 AND s.deactivate_on < ?3), 0),
       COALESCE(SUM(s.requested), 0)
FROM policy_states s JOIN policy_users u ON u.site = s.site AND u.user_uuid = s.user_uuid
WHERE s.site = ?1 AND NOT s.dry_run AND NOT u.retired AND u.synced_at IS NOT NULL`,
		site, time.Time{}.UnixMicro(), q.DueBefore.UnixMicro()).Scan(&c.Warned, &c.Due, &c.Requested); err != nil {
		return c, fmt.Errorf("census of %s: count plans: %w", site, err)
	}

	// An exemption protects from its creation up to, not including, its end
	// (policy.Exemption.ActiveAt).
	if err := tx.QueryRowContext(ctx, `
SELECT count(*) FROM policy_exemptions e JOIN policy_users u ON u.site = e.site AND u.user_uuid = e.user_uuid
WHERE e.site = ?1 AND NOT u.retired AND u.synced_at IS NOT NULL
  AND e.created_at <= ?2 AND (e.until IS NULL OR e.until > ?2)`, site, q.Now.UnixMicro()).Scan(&c.Exempt); err != nil {
		return c, fmt.Errorf("census of %s: count exemptions: %w", site, err)
	}
	return c, nil
}
