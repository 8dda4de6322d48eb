package actuator

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Component names the actuator's migrations, apart from the policy store's, so the two
// number their schema versions independently.
const Component = "actuator"

// Outcome is what became of a deactivation request.
type Outcome string

// Outcomes. Each is final: a redelivered request with a recorded outcome changes nothing.
const (
	// OutcomeDeactivated: OpenMRS holds the user retired (by us, or already before).
	OutcomeDeactivated Outcome = "deactivated"
	// OutcomeSuperseded: the user logged in after the decision; nothing was sent to OpenMRS.
	OutcomeSuperseded Outcome = "superseded"
	// OutcomeWouldBe: a dry-run decision, recorded and never acted on.
	OutcomeWouldBe Outcome = "would_be"
	// OutcomeRefused: the target is protected whatever the decision said; a security alert went out.
	OutcomeRefused Outcome = "refused"
	// OutcomeFailed: the last attempt failed; dormant.user.deactivation.failed went out.
	OutcomeFailed Outcome = "failed"
)

// Record is the actuator's note about one decision.
type Record struct {
	Site, DecisionID, UserUUID, Username string
	Outcome                              Outcome
	Detail                               string
	DecidedAt, RecordedAt                time.Time
}

// Reactivation is one unretirement: who did it and why.
type Reactivation struct {
	ID, Site, UserUUID, Username string
	By, Reason                   string
	// WasRetired is false when the user was already active: the reactivation then only gives
	// a fresh grace period.
	WasRetired    bool
	ReactivatedAt time.Time
}

// Store keeps the actuator's records. One implementation serves both engines through
// database/sql: the statements are plain enough (INSERT ... ON CONFLICT, $n parameters) that
// PostgreSQL and SQLite read them alike; only the column types differ, in the migrations.
type Store struct {
	db *sqldb.Portable
}

// OpenStore migrates the actuator's tables and returns the store.
func OpenStore(ctx context.Context, db *sqldb.DB) (*Store, error) {
	p, err := db.OpenPortable(ctx, Component, migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return &Store{db: p}, nil
}

// Close releases what OpenStore opened; the database itself stays the caller's.
func (s *Store) Close() error { return s.db.Close() }

// Record stores the outcome of a decision; a later outcome of the same decision replaces it
// (a failed request that an admin re-queues may later be deactivated).
func (s *Store) Record(ctx context.Context, r Record) error {
	_, err := s.db.ExecContext(ctx, `
INSERT INTO actuator_decisions (site, decision_id, user_uuid, username, outcome, detail, decided_at, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (site, decision_id) DO UPDATE SET
    outcome = EXCLUDED.outcome, detail = EXCLUDED.detail, recorded_at = EXCLUDED.recorded_at`,
		r.Site, r.DecisionID, r.UserUUID, r.Username, string(r.Outcome), r.Detail, r.DecidedAt.UTC(), r.RecordedAt.UTC())
	if err != nil {
		return fmt.Errorf("record %s of decision %s at %s: %w", r.Outcome, r.DecisionID, r.Site, err)
	}
	return nil
}

// Decision returns the record of a decision; ok is false when there is none.
func (s *Store) Decision(ctx context.Context, site, decisionID string) (r Record, ok bool, err error) {
	var outcome string
	err = s.db.QueryRowContext(ctx, `
SELECT user_uuid, username, outcome, detail, decided_at, recorded_at
FROM actuator_decisions WHERE site = $1 AND decision_id = $2`, site, decisionID).
		Scan(&r.UserUUID, &r.Username, &outcome, &r.Detail, &r.DecidedAt, &r.RecordedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("read decision %s at %s: %w", decisionID, site, err)
	}
	r.Site, r.DecisionID, r.Outcome = site, decisionID, Outcome(outcome)
	r.DecidedAt, r.RecordedAt = r.DecidedAt.UTC(), r.RecordedAt.UTC()
	return r, true, nil
}

// AddReactivation records a reactivation.
func (s *Store) AddReactivation(ctx context.Context, r Reactivation) error {
	_, err := s.db.ExecContext(ctx, `
INSERT INTO actuator_reactivations (id, site, user_uuid, username, by_whom, reason, was_retired, reactivated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Site, r.UserUUID, r.Username, r.By, r.Reason, r.WasRetired, r.ReactivatedAt.UTC())
	if err != nil {
		return fmt.Errorf("record reactivation of %s at %s: %w", r.UserUUID, r.Site, err)
	}
	return nil
}

// Reactivations lists a user's reactivations, oldest first.
func (s *Store) Reactivations(ctx context.Context, site, userUUID string) ([]Reactivation, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT id, username, by_whom, reason, was_retired, reactivated_at FROM actuator_reactivations
WHERE site = $1 AND user_uuid = $2 ORDER BY reactivated_at, id`, site, userUUID)
	if err != nil {
		return nil, fmt.Errorf("list reactivations of %s at %s: %w", userUUID, site, err)
	}
	defer rows.Close()
	var out []Reactivation
	for rows.Next() {
		r := Reactivation{Site: site, UserUUID: userUUID}
		if err := rows.Scan(&r.ID, &r.Username, &r.By, &r.Reason, &r.WasRetired, &r.ReactivatedAt); err != nil {
			return nil, fmt.Errorf("list reactivations of %s at %s: %w", userUUID, site, err)
		}
		r.ReactivatedAt = r.ReactivatedAt.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// Decisions lists a site's decisions with outcome ("" for every outcome), newest recorded
// first, at most limit of them (the admin page's retirements list and history).
func (s *Store) Decisions(ctx context.Context, site string, outcome Outcome, limit int) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT decision_id, user_uuid, username, outcome, detail, decided_at, recorded_at FROM actuator_decisions
WHERE site = $1 AND ($2 = '' OR outcome = $2) ORDER BY recorded_at DESC, decision_id LIMIT $3`, site, string(outcome), limit)
	if err != nil {
		return nil, fmt.Errorf("list %s decisions at %s: %w", outcome, site, err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r := Record{Site: site}
		var o string
		if err := rows.Scan(&r.DecisionID, &r.UserUUID, &r.Username, &o, &r.Detail, &r.DecidedAt, &r.RecordedAt); err != nil {
			return nil, fmt.Errorf("list decisions at %s: %w", site, err)
		}
		r.Outcome, r.DecidedAt, r.RecordedAt = Outcome(o), r.DecidedAt.UTC(), r.RecordedAt.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// SiteReactivations lists a site's reactivations, newest first, at most limit of them.
func (s *Store) SiteReactivations(ctx context.Context, site string, limit int) ([]Reactivation, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT id, user_uuid, username, by_whom, reason, was_retired, reactivated_at FROM actuator_reactivations
WHERE site = $1 ORDER BY reactivated_at DESC, id LIMIT $2`, site, limit)
	if err != nil {
		return nil, fmt.Errorf("list reactivations at %s: %w", site, err)
	}
	defer rows.Close()
	var out []Reactivation
	for rows.Next() {
		r := Reactivation{Site: site}
		if err := rows.Scan(&r.ID, &r.UserUUID, &r.Username, &r.By, &r.Reason, &r.WasRetired, &r.ReactivatedAt); err != nil {
			return nil, fmt.Errorf("list reactivations at %s: %w", site, err)
		}
		r.ReactivatedAt = r.ReactivatedAt.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
