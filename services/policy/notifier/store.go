package notifier

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy/handover"
)

//go:embed migrations
var migrations embed.FS

// Component names the notifier's migrations, numbered apart from every other store's.
const Component = "notifier"

// Item is one line of a digest.
type Item struct {
	Site, EventID, Kind string
	UserUUID, Username  string
	Detail              string
	OccurredAt          time.Time
	DueAt               time.Time // warnings: the deactivation day
	// Handover is what an upcoming user still holds in OpenMRS, read when the digest is
	// made (not stored).
	Handover *handover.Facts
}

// Digest item kinds.
const (
	ItemUpcoming = "upcoming"
	ItemRetired  = "retired"
	ItemHeld     = "held"
	// ItemFailed is a deactivation the actuator gave up on: the account is still live.
	ItemFailed = "failed"
)

// Store is the notifier's sent log and digest queue, on PostgreSQL or SQLite through
// database/sql (the statements are common to both; the migrations differ in types only).
type Store struct {
	db *sqldb.Portable
}

// OpenStore migrates the notifier's tables and returns the store.
func OpenStore(ctx context.Context, db *sqldb.DB) (*Store, error) {
	p, err := db.OpenPortable(ctx, Component, migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return &Store{db: p}, nil
}

// Close releases what OpenStore opened; the database itself stays the caller's.
func (s *Store) Close() error { return s.db.Close() }

// Sent reports whether the notification with key went out.
func (s *Store) Sent(ctx context.Context, key string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM notifier_sent WHERE key = $1`, key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read sent log %s: %w", key, err)
	}
	return true, nil
}

// MarkSent records a notification that went out.
func (s *Store) MarkSent(ctx context.Context, key, site, recipients string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO notifier_sent (key, site, recipients, sent_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (key) DO NOTHING`, key, site, recipients, at.UTC())
	if err != nil {
		return fmt.Errorf("write sent log %s: %w", key, err)
	}
	return nil
}

// AddItem queues a digest line; a redelivered event adds nothing.
func (s *Store) AddItem(ctx context.Context, it Item) error {
	var due *time.Time
	if !it.DueAt.IsZero() {
		d := it.DueAt.UTC()
		due = &d
	}
	_, err := s.db.ExecContext(ctx, `
INSERT INTO notifier_digest_items (site, event_id, kind, user_uuid, username, detail, occurred_at, due_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (site, event_id) DO NOTHING`,
		it.Site, it.EventID, it.Kind, it.UserUUID, it.Username, it.Detail, it.OccurredAt.UTC(), due)
	if err != nil {
		return fmt.Errorf("queue digest item %s: %w", it.EventID, err)
	}
	return nil
}

// Pending lists a site's items no digest has listed yet, oldest first.
func (s *Store) Pending(ctx context.Context, site string) ([]Item, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT event_id, kind, user_uuid, username, detail, occurred_at, due_at FROM notifier_digest_items
WHERE site = $1 AND digest_id IS NULL ORDER BY occurred_at, event_id`, site)
	if err != nil {
		return nil, fmt.Errorf("list digest items of %s: %w", site, err)
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		it := Item{Site: site}
		var due *time.Time
		if err := rows.Scan(&it.EventID, &it.Kind, &it.UserUUID, &it.Username, &it.Detail, &it.OccurredAt, &due); err != nil {
			return nil, fmt.Errorf("list digest items of %s: %w", site, err)
		}
		it.OccurredAt = it.OccurredAt.UTC()
		if due != nil {
			it.DueAt = due.UTC()
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// CloseDigest marks the items as listed by digest id and logs the digest as sent, together.
func (s *Store) CloseDigest(ctx context.Context, site, digestID, recipients string, items []Item, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("close digest %s: %w", digestID, err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, it := range items {
		if _, err := tx.ExecContext(ctx, `UPDATE notifier_digest_items SET digest_id = $1 WHERE site = $2 AND event_id = $3`, digestID, site, it.EventID); err != nil {
			return fmt.Errorf("close digest %s: %w", digestID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO notifier_sent (key, site, recipients, sent_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (key) DO NOTHING`, digestID, site, recipients, at.UTC()); err != nil {
		return fmt.Errorf("close digest %s: %w", digestID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("close digest %s: %w", digestID, err)
	}
	return nil
}
