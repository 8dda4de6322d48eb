// Package sqlite is the policy service's store on the embedded SQLite database.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Component names this store's migrations.
const Component = "policy"

// Store is the policy store on SQLite.
type Store struct {
	db *sql.DB
}

var _ policy.Store = (*Store)(nil)

// Open migrates the schema and returns the store. The database stays the caller's.
func Open(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := db.MigrateEmbedded(ctx, Component, sqldb.SQLite, migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db.SQL()}, nil
}

// RecordLogin implements policy.Store.
func (s *Store) RecordLogin(ctx context.Context, site, userUUID, username string, at time.Time) (bool, error) {
	moved, err := s.RecordActivity(ctx, site, userUUID, username, at)
	if err != nil {
		return false, err
	}
	// Feed health: the newest login the site's feed has brought, whatever the order.
	if _, err := s.db.ExecContext(ctx, `
INSERT INTO policy_sites (site, last_feed_at) VALUES (?, ?)
ON CONFLICT (site) DO UPDATE SET last_feed_at = excluded.last_feed_at
WHERE policy_sites.last_feed_at IS NULL OR excluded.last_feed_at > policy_sites.last_feed_at`, site, at.UnixMicro()); err != nil {
		return false, fmt.Errorf("record feed health of %s: %w", site, err)
	}
	return moved, nil
}

// RecordActivity implements policy.Store.
func (s *Store) RecordActivity(ctx context.Context, site, userUUID, username string, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `
INSERT INTO policy_users (site, user_uuid, username, last_login_at) VALUES (?, ?, ?, ?)
ON CONFLICT (site, user_uuid) DO UPDATE SET
    last_login_at = excluded.last_login_at,
    username = CASE WHEN policy_users.synced_at IS NULL AND excluded.username <> '' THEN excluded.username ELSE policy_users.username END
WHERE policy_users.last_login_at IS NULL OR excluded.last_login_at > policy_users.last_login_at`,
		site, userUUID, username, at.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("record activity of %s at %s: %w", userUUID, site, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record activity of %s at %s: %w", userUUID, site, err)
	}
	return n == 1, nil
}

// SyncUser implements policy.Store.
func (s *Store) SyncUser(ctx context.Context, u policy.User) error {
	roles, props, err := policy.EncodeFacts(u)
	if err != nil {
		return err
	}
	var created any
	if !u.CreatedAt.IsZero() {
		created = u.CreatedAt.UnixMicro()
	}
	_, err = s.db.ExecContext(ctx, `
INSERT INTO policy_users (site, user_uuid, username, system_id, given_name, family_name, email, roles, properties, created_at, retired, synced_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (site, user_uuid) DO UPDATE SET
    username = excluded.username, system_id = excluded.system_id, given_name = excluded.given_name,
    family_name = excluded.family_name, email = excluded.email, roles = excluded.roles,
    properties = excluded.properties, created_at = excluded.created_at, retired = excluded.retired,
    synced_at = excluded.synced_at,
    -- Only a change of the facts demo matching reads sends the user back to classification.
    is_demo = CASE WHEN policy_users.username IS NOT excluded.username
        OR policy_users.system_id IS NOT excluded.system_id
        OR policy_users.family_name IS NOT excluded.family_name
        OR policy_users.properties IS NOT excluded.properties
        THEN NULL ELSE policy_users.is_demo END`,
		u.Site, u.UUID, u.Username, u.SystemID, u.GivenName, u.FamilyName, u.Email, string(roles), string(props), created, u.Retired, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("sync user %s at %s: %w", u.UUID, u.Site, err)
	}
	return nil
}

// SetRetired implements policy.Store.
func (s *Store) SetRetired(ctx context.Context, site, userUUID string, retired bool) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE policy_users SET retired = ? WHERE site = ? AND user_uuid = ?`, retired, site, userUUID)
	if err != nil {
		return false, fmt.Errorf("set retired=%v for %s at %s: %w", retired, userUUID, site, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// User implements policy.Store.
func (s *Store) User(ctx context.Context, site, userUUID string) (policy.User, error) {
	u := policy.User{Site: site, UUID: userUUID}
	var roles, props string
	var created, last sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT username, system_id, given_name, family_name, email, roles, properties, created_at, retired, last_login_at
		FROM policy_users WHERE site = ? AND user_uuid = ?`, site, userUUID).
		Scan(&u.Username, &u.SystemID, &u.GivenName, &u.FamilyName, &u.Email, &roles, &props, &created, &u.Retired, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return policy.User{}, policy.ErrNotFound
	}
	if err != nil {
		return policy.User{}, fmt.Errorf("read user %s at %s: %w", userUUID, site, err)
	}
	if created.Valid {
		u.CreatedAt = time.UnixMicro(created.Int64).UTC()
	}
	if last.Valid {
		t := time.UnixMicro(last.Int64).UTC()
		u.LastLoginAt = &t
	}
	return u, policy.DecodeFacts(&u, []byte(roles), []byte(props))
}

// Close implements policy.Store; the database belongs to the caller.
func (s *Store) Close() error { return nil }
