// Package requests keeps the reactivation requests retired users make on the public page,
// and what an admin decided about each: the admin page's queue.
package requests

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

// Component names the requests' migrations, numbered apart from the other stores'.
const Component = "requests"

// Status is where a request stands.
type Status string

// Statuses.
const (
	Pending  Status = "pending"
	Approved Status = "approved"
	Rejected Status = "rejected"
)

// Errors of the store.
var (
	ErrNotFound   = errors.New("no such reactivation request")
	ErrNotPending = errors.New("the reactivation request was decided already")
)

// Limits of what a request holds (the event's schema says the same).
const (
	MaxUsername = 50
	MaxNote     = 1024
)

// Request is one reactivation request.
type Request struct {
	ID, Site, Username, Note string
	// ClientIP is the address the request came from ("" when unknown).
	ClientIP    string
	RequestedAt time.Time
	Status      Status
	// UserUUID is the account an approval reactivated ("" until then).
	UserUUID       string
	DecidedBy      string
	DecisionReason string
	DecidedAt      time.Time
}

// Store keeps the requests. One implementation serves both engines through database/sql, as
// the actuator's store does; only the column types differ, in the migrations.
type Store struct {
	db *sqldb.Portable
}

// OpenStore migrates the requests' table and returns the store.
func OpenStore(ctx context.Context, db *sqldb.DB) (*Store, error) {
	p, err := db.OpenPortable(ctx, Component, migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return &Store{db: p}, nil
}

// Close releases what OpenStore opened; the database itself stays the caller's.
func (s *Store) Close() error { return s.db.Close() }

// Add stores a new pending request; the same id again changes nothing.
func (s *Store) Add(ctx context.Context, r Request) error {
	_, err := s.db.ExecContext(ctx, `
INSERT INTO reactivation_requests (id, site, username, note, client_ip, requested_at, status)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Site, r.Username, r.Note, r.ClientIP, r.RequestedAt.UTC(), string(Pending))
	if err != nil {
		return fmt.Errorf("store reactivation request %s at %s: %w", r.ID, r.Site, err)
	}
	return nil
}

const columns = `id, site, username, note, client_ip, requested_at, status, user_uuid, decided_by, decision_reason, decided_at`

func scan(sc interface{ Scan(...any) error }) (Request, error) {
	var r Request
	var status string
	var decided sql.NullTime
	if err := sc.Scan(&r.ID, &r.Site, &r.Username, &r.Note, &r.ClientIP, &r.RequestedAt, &status, &r.UserUUID, &r.DecidedBy, &r.DecisionReason, &decided); err != nil {
		return r, err
	}
	r.Status, r.RequestedAt = Status(status), r.RequestedAt.UTC()
	if decided.Valid {
		r.DecidedAt = decided.Time.UTC()
	}
	return r, nil
}

// Get returns one request of a site, or ErrNotFound.
func (s *Store) Get(ctx context.Context, site, id string) (Request, error) {
	r, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM reactivation_requests WHERE site = $1 AND id = $2`, site, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, ErrNotFound
	}
	if err != nil {
		return Request{}, fmt.Errorf("read reactivation request %s at %s: %w", id, site, err)
	}
	return r, nil
}

// List returns a site's requests with status ("" for all), newest first, at most limit.
func (s *Store) List(ctx context.Context, site string, status Status, limit int) ([]Request, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM reactivation_requests
WHERE site = $1 AND ($2 = '' OR status = $2) ORDER BY requested_at DESC, id LIMIT $3`, site, string(status), limit)
	if err != nil {
		return nil, fmt.Errorf("list reactivation requests at %s: %w", site, err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list reactivation requests at %s: %w", site, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Decide moves a pending request to status (Approved or Rejected), recording who, why,
// when and, for an approval, the account reactivated. ErrNotPending when it was decided
// already, ErrNotFound when unknown.
func (s *Store) Decide(ctx context.Context, site, id string, status Status, by, reason, userUUID string, at time.Time) error {
	if status != Approved && status != Rejected {
		return fmt.Errorf("decide reactivation request %s: status %q is not a decision", id, status)
	}
	res, err := s.db.ExecContext(ctx, `
UPDATE reactivation_requests SET status = $3, decided_by = $4, decision_reason = $5, user_uuid = $6, decided_at = $7
WHERE site = $1 AND id = $2 AND status = 'pending'`, site, id, string(status), by, reason, userUUID, at.UTC())
	if err != nil {
		return fmt.Errorf("decide reactivation request %s at %s: %w", id, site, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	if _, err := s.Get(ctx, site, id); err != nil {
		return err
	}
	return ErrNotPending
}
