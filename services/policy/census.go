package policy

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CensusQuery says how to count a site's users for the admin overview. The stores count in
// SQL, so a site of a million users costs one pass over its rows in the database, not a
// million rows streamed into the service.
type CensusQuery struct {
	// Now is the instant ages and exemptions are measured at.
	Now time.Time
	// Baseline is the site's baseline (SiteState.Baseline): users never seen logging in are
	// measured from the later of their creation and it, as LastActivity does.
	Baseline time.Time
	// BucketDays is the width of one age bucket in whole days; Buckets is how many buckets
	// there are, the last one holding every older user.
	BucketDays, Buckets int
	// DueBefore: a planned deactivation before it counts in Census.Due.
	DueBefore time.Time
}

// Census is what the overview shows of a site's roster-synced users.
type Census struct {
	// Active counts users not retired; Retired the retired ones. Every other count is of
	// active users only.
	Active, Retired int
	// NeverLoggedIn counts users with no login recorded: their age runs from creation or
	// the baseline.
	NeverLoggedIn int
	// Exempt counts users with an exemption in force at Now.
	Exempt int
	// Warned counts users warned for real (not in dry run) whose deactivation is not yet
	// requested; Due those of them planned for deactivation before DueBefore; Requested the
	// users whose deactivation was requested (not in dry run) and waits for the actuator.
	Warned, Due, Requested int
	// Ages[i] counts users whose whole days since last activity are in
	// [i*BucketDays, (i+1)*BucketDays); the last bucket is open-ended, and an activity later
	// than Now (clock skew, a creation date in the future) counts in the first.
	Ages []int
}

// AddRow adds one row of a store's per-bucket count: bucket -1 holds the retired users, any
// other the active users of that age bucket, never of them with no login recorded.
func (c *Census) AddRow(bucket, n, never int) {
	if bucket < 0 {
		c.Retired += n
		return
	}
	c.Active += n
	c.NeverLoggedIn += never
	c.Ages[bucket] += n
}

// CensusStore counts a site's users in the store.
type CensusStore interface {
	Census(ctx context.Context, site string, q CensusQuery) (Census, error)
}

// maxCensusBuckets bounds the SQL a census builds (one comparison per bucket).
const maxCensusBuckets = 1000

// Validate says what is wrong with the query, naming the field.
func (q CensusQuery) Validate() error {
	var errs []error
	if q.Now.IsZero() {
		errs = append(errs, errors.New("census: Now must be set"))
	}
	if q.BucketDays < 1 {
		errs = append(errs, fmt.Errorf("census: BucketDays %d must be at least 1", q.BucketDays))
	}
	if q.Buckets < 1 || q.Buckets > maxCensusBuckets {
		errs = append(errs, fmt.Errorf("census: Buckets %d must be between 1 and %d", q.Buckets, maxCensusBuckets))
	}
	return errors.Join(errs...)
}

// AtStorePrecision returns the query with its instants truncated to microseconds, the
// precision both stores keep: counting with nanoseconds the stores never saw would put a
// user on a bucket boundary on one side in Go and on the other in SQL.
func (q CensusQuery) AtStorePrecision() CensusQuery {
	q.Now = q.Now.Truncate(time.Microsecond)
	q.Baseline = q.Baseline.Truncate(time.Microsecond)
	q.DueBefore = q.DueBefore.Truncate(time.Microsecond)
	return q
}

// BucketEdges are the instants that split the age buckets, newest first: an activity at or
// before edge k (k from 0) is at least (k+1)*BucketDays whole days old, so a user's bucket
// is the number of edges at or after their last activity. Exact instants, not day
// arithmetic in SQL, so both engines agree to the microsecond and time zones play no part.
func (q CensusQuery) BucketEdges() []time.Time {
	edges := make([]time.Time, 0, max(q.Buckets-1, 0))
	for k := 1; k < q.Buckets; k++ {
		edges = append(edges, q.Now.Add(-time.Duration(k*q.BucketDays)*Day))
	}
	return edges
}

// AgeBucket is the bucket of a user whose last activity is at, by day arithmetic in Go:
// the reference the stores' SQL is tested against.
func (q CensusQuery) AgeBucket(at time.Time) int {
	days := int(q.Now.Sub(at) / Day)
	if days < 0 {
		return 0
	}
	return min(days/q.BucketDays, q.Buckets-1)
}
