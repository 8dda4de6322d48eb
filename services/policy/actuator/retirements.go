package actuator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxRetirementEdges bounds the SQL RetiredSince builds (one sum per instant).
const maxRetirementEdges = 100

// RetiredSince counts a site's retirements (OutcomeDeactivated records) recorded at or after
// each of since, in one aggregate query: the admin overview's "retired this month" and
// weekly chart, without reading the records into the service.
func (s *Store) RetiredSince(ctx context.Context, site string, since []time.Time) ([]int, error) {
	if len(since) == 0 || len(since) > maxRetirementEdges {
		return nil, fmt.Errorf("retired since: %d instants, want 1 to %d", len(since), maxRetirementEdges)
	}
	args := []any{site, string(OutcomeDeactivated)}
	var sums []string
	first := since[0]
	for i, t := range since {
		if t.IsZero() {
			return nil, errors.New("retired since: instant " + fmt.Sprint(i) + " is zero")
		}
		if t.Before(first) {
			first = t
		}
		// UTC, as Record stores them: SQLite compares the timestamps as text.
		args = append(args, t.UTC())
		sums = append(sums, fmt.Sprintf("COALESCE(SUM(CASE WHEN recorded_at >= $%d THEN 1 ELSE 0 END), 0)", len(args)))
	}
	args = append(args, first.UTC())
	counts := make([]int, len(since))
	dest := make([]any, len(counts))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := s.db.QueryRowContext(ctx, `SELECT `+strings.Join(sums, ", ")+`
FROM actuator_decisions WHERE site = $1 AND outcome = $2 AND recorded_at >= $`+fmt.Sprint(len(args)), args...).Scan(dest...); err != nil {
		return nil, fmt.Errorf("count retirements at %s: %w", site, err)
	}
	return counts, nil
}
