-- The decision engine's part of the projection: per-site tick bookkeeping, per-user decision
-- state, exemptions, held batches and the decision history. Times are unix microseconds,
-- booleans 0/1, held requests JSON text.

-- is_demo caches Rules.IsDemo (NULL: not classified since the last roster change), so a tick
-- preselects demo accounts on an index; policy_sites.demo_key says which criteria it used.
ALTER TABLE policy_users ADD COLUMN is_demo INTEGER;

-- Preselection on indexed columns only: active users by last login, active users never seen
-- logging in by creation, demo accounts, users waiting for classification.
CREATE INDEX policy_users_active_login ON policy_users (site, last_login_at) WHERE retired = 0;
CREATE INDEX policy_users_active_never ON policy_users (site, created_at) WHERE retired = 0 AND last_login_at IS NULL;
CREATE INDEX policy_users_demo ON policy_users (site, created_at) WHERE is_demo = 1 AND retired = 0;
CREATE INDEX policy_users_unclassified ON policy_users (site) WHERE is_demo IS NULL;
CREATE INDEX policy_users_username ON policy_users (site, lower(username));

CREATE TABLE policy_sites (
    site         TEXT        PRIMARY KEY,
    baseline     INTEGER,
    last_tick    INTEGER,
    last_feed_at INTEGER,
    demo_key     TEXT        NOT NULL DEFAULT ''
);

-- policy.State per user; no row means nothing pending.
CREATE TABLE policy_states (
    site          TEXT        NOT NULL,
    user_uuid     TEXT        NOT NULL,
    rule          TEXT        NOT NULL,
    anchor        INTEGER NOT NULL,
    due           INTEGER NOT NULL,
    deactivate_on INTEGER NOT NULL,
    warned_ns     INTEGER     NOT NULL DEFAULT 0,
    requested     INTEGER     NOT NULL DEFAULT 0,
    dry_run       INTEGER     NOT NULL DEFAULT 0,
    PRIMARY KEY (site, user_uuid)
);

CREATE TABLE policy_exemptions (
    site       TEXT        NOT NULL,
    user_uuid  TEXT        NOT NULL,
    reason     TEXT        NOT NULL,
    by_user    TEXT        NOT NULL,
    until      INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (site, user_uuid)
);

CREATE TABLE policy_held (
    site       TEXT        NOT NULL,
    batch_id   TEXT        NOT NULL,
    tick       INTEGER NOT NULL,
    reason     TEXT        NOT NULL,
    lim        INTEGER     NOT NULL,
    requests   TEXT        NOT NULL,
    status     TEXT        NOT NULL,
    decided_by TEXT        NOT NULL DEFAULT '',
    decided_at INTEGER,
    PRIMARY KEY (site, batch_id)
);

CREATE TABLE policy_history (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    site           TEXT        NOT NULL,
    user_uuid      TEXT        NOT NULL DEFAULT '',
    kind           TEXT        NOT NULL,
    at             INTEGER NOT NULL,
    policy_version TEXT        NOT NULL DEFAULT '',
    by_user        TEXT        NOT NULL DEFAULT '',
    reason         TEXT        NOT NULL DEFAULT '',
    event_id       TEXT        NOT NULL DEFAULT '',
    batch_id       TEXT        NOT NULL DEFAULT '',
    would_be       INTEGER     NOT NULL DEFAULT 0
);

CREATE INDEX policy_history_user ON policy_history (site, user_uuid, id);
