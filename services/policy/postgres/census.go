package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dormant-dev/dormant/services/policy"
)

var _ policy.CensusStore = (*Store)(nil)

// Census implements policy.CensusStore: three aggregate queries over one snapshot (a
// read-only repeatable-read transaction), so the counts agree with each other even while
// ticks and logins write.
func (s *Store) Census(ctx context.Context, site string, q policy.CensusQuery) (policy.Census, error) {
	if err := q.Validate(); err != nil {
		return policy.Census{}, err
	}
	q = q.AtStorePrecision()
	c := policy.Census{Ages: make([]int, q.Buckets)}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return c, fmt.Errorf("census of %s: %w", site, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()

	// Retired users fall in bucket -1; the others in the bucket their last activity gives
	// (policy.LastActivity in SQL: GREATEST ignores a NULL creation date). width_bucket
	// counts the bounds at or before act in one binary search; a bound a microsecond after
	// each edge turns that into the edges strictly before act, so an activity exactly on an
	// edge is in the older bucket, as BucketEdges says. Both sides are whole microseconds.
	edges := q.BucketEdges()
	bounds := make([]time.Time, len(edges))
	for i, e := range edges {
		bounds[len(edges)-1-i] = e.Add(time.Microsecond)
	}
	rows, err := tx.Query(ctx, `
SELECT CASE WHEN retired THEN -1
       ELSE $3::int - width_bucket(COALESCE(last_login_at, GREATEST(created_at, $2::timestamptz)), $4::timestamptz[]) END AS bucket,
       count(*), count(*) FILTER (WHERE last_login_at IS NULL)
FROM policy_users WHERE site = $1 AND synced_at IS NOT NULL
GROUP BY 1`, site, q.Baseline, q.Buckets-1, bounds)
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
	if err := tx.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE NOT s.requested AND s.warned_ns <> 0),
       count(*) FILTER (WHERE NOT s.requested AND s.deactivate_on > $2 AND s.deactivate_on < $3),
       count(*) FILTER (WHERE s.requested)
FROM policy_states s JOIN policy_users u ON u.site = s.site AND u.user_uuid = s.user_uuid
WHERE s.site = $1 AND NOT s.dry_run AND NOT u.retired AND u.synced_at IS NOT NULL`,
		site, time.Time{}, q.DueBefore).Scan(&c.Warned, &c.Due, &c.Requested); err != nil {
		return c, fmt.Errorf("census of %s: count plans: %w", site, err)
	}

	// An exemption protects from its creation up to, not including, its end
	// (policy.Exemption.ActiveAt).
	if err := tx.QueryRow(ctx, `
SELECT count(*) FROM policy_exemptions e JOIN policy_users u ON u.site = e.site AND u.user_uuid = e.user_uuid
WHERE e.site = $1 AND NOT u.retired AND u.synced_at IS NOT NULL
  AND e.created_at <= $2 AND (e.until IS NULL OR e.until > $2)`, site, q.Now).Scan(&c.Exempt); err != nil {
		return c, fmt.Errorf("census of %s: count exemptions: %w", site, err)
	}
	return c, nil
}
