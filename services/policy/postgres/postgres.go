// Package postgres is the policy service's store on PostgreSQL.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Component names this store's migrations.
const Component = "policy"

// Store is the policy store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ policy.Store = (*Store)(nil)

// Open migrates the schema and returns the store. The pool stays the caller's.
func Open(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := db.MigrateEmbedded(ctx, Component, sqldb.Postgres, migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{pool: db.Pool()}, nil
}

// RecordLogin implements policy.Store.
func (s *Store) RecordLogin(ctx context.Context, site, userUUID, username string, at time.Time) (bool, error) {
	moved, err := s.RecordActivity(ctx, site, userUUID, username, at)
	if err != nil {
		return false, err
	}
	// Feed health: the newest login the site's feed has brought, whatever the order.
	if _, err := s.pool.Exec(ctx, `
INSERT INTO policy_sites AS s (site, last_feed_at) VALUES ($1, $2)
ON CONFLICT (site) DO UPDATE SET last_feed_at = EXCLUDED.last_feed_at
WHERE s.last_feed_at IS NULL OR EXCLUDED.last_feed_at > s.last_feed_at`, site, at.Truncate(time.Microsecond)); err != nil {
		return false, fmt.Errorf("record feed health of %s: %w", site, err)
	}
	return moved, nil
}

// RecordActivity implements policy.Store.
func (s *Store) RecordActivity(ctx context.Context, site, userUUID, username string, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
INSERT INTO policy_users AS u (site, user_uuid, username, last_login_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (site, user_uuid) DO UPDATE SET
    last_login_at = EXCLUDED.last_login_at,
    username = CASE WHEN u.synced_at IS NULL AND EXCLUDED.username <> '' THEN EXCLUDED.username ELSE u.username END
WHERE u.last_login_at IS NULL OR EXCLUDED.last_login_at > u.last_login_at`,
		site, userUUID, username, at.Truncate(time.Microsecond))
	if err != nil {
		return false, fmt.Errorf("record activity of %s at %s: %w", userUUID, site, err)
	}
	return tag.RowsAffected() == 1, nil
}

// SyncUser implements policy.Store.
func (s *Store) SyncUser(ctx context.Context, u policy.User) error {
	roles, props, err := policy.EncodeFacts(u)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `
INSERT INTO policy_users (site, user_uuid, username, system_id, given_name, family_name, email, roles, properties, created_at, retired, synced_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
ON CONFLICT (site, user_uuid) DO UPDATE SET
    username = EXCLUDED.username, system_id = EXCLUDED.system_id, given_name = EXCLUDED.given_name,
    family_name = EXCLUDED.family_name, email = EXCLUDED.email, roles = EXCLUDED.roles,
    properties = EXCLUDED.properties, created_at = EXCLUDED.created_at, retired = EXCLUDED.retired,
    synced_at = now(),
    -- Only a change of the facts demo matching reads sends the user back to classification.
    is_demo = CASE WHEN policy_users.username IS DISTINCT FROM EXCLUDED.username
        OR policy_users.system_id IS DISTINCT FROM EXCLUDED.system_id
        OR policy_users.family_name IS DISTINCT FROM EXCLUDED.family_name
        OR policy_users.properties IS DISTINCT FROM EXCLUDED.properties
        THEN NULL ELSE policy_users.is_demo END`,
		u.Site, u.UUID, u.Username, u.SystemID, u.GivenName, u.FamilyName, u.Email, roles, props, nullTime(u.CreatedAt), u.Retired)
	if err != nil {
		return fmt.Errorf("sync user %s at %s: %w", u.UUID, u.Site, err)
	}
	return nil
}

// SetRetired implements policy.Store.
func (s *Store) SetRetired(ctx context.Context, site, userUUID string, retired bool) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE policy_users SET retired = $3 WHERE site = $1 AND user_uuid = $2`, site, userUUID, retired)
	if err != nil {
		return false, fmt.Errorf("set retired=%v for %s at %s: %w", retired, userUUID, site, err)
	}
	return tag.RowsAffected() == 1, nil
}

// User implements policy.Store.
func (s *Store) User(ctx context.Context, site, userUUID string) (policy.User, error) {
	u := policy.User{Site: site, UUID: userUUID}
	var roles, props []byte
	var created *time.Time
	err := s.pool.QueryRow(ctx, `SELECT username, system_id, given_name, family_name, email, roles, properties, created_at, retired, last_login_at
		FROM policy_users WHERE site = $1 AND user_uuid = $2`, site, userUUID).
		Scan(&u.Username, &u.SystemID, &u.GivenName, &u.FamilyName, &u.Email, &roles, &props, &created, &u.Retired, &u.LastLoginAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return policy.User{}, policy.ErrNotFound
	}
	if err != nil {
		return policy.User{}, fmt.Errorf("read user %s at %s: %w", userUUID, site, err)
	}
	if created != nil {
		u.CreatedAt = created.UTC()
	}
	if u.LastLoginAt != nil {
		t := u.LastLoginAt.UTC()
		u.LastLoginAt = &t
	}
	return u, policy.DecodeFacts(&u, roles, props)
}

// Close implements policy.Store; the pool belongs to the caller.
func (s *Store) Close() error { return nil }

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
