-- The decision engine's part of the projection: per-site tick bookkeeping, per-user decision
-- state, exemptions, held batches and the decision history.

-- is_demo caches Rules.IsDemo (NULL: not classified since the last roster change), so a tick
-- preselects demo accounts on an index; policy_sites.demo_key says which criteria it used.
ALTER TABLE policy_users ADD COLUMN is_demo boolean;

-- Preselection on indexed columns only: active users by last login, active users never seen
-- logging in by creation, demo accounts, users waiting for classification.
CREATE INDEX policy_users_active_login ON policy_users (site, last_login_at) WHERE NOT retired;
CREATE INDEX policy_users_active_never ON policy_users (site, created_at) WHERE NOT retired AND last_login_at IS NULL;
CREATE INDEX policy_users_demo ON policy_users (site, created_at) WHERE is_demo AND NOT retired;
CREATE INDEX policy_users_unclassified ON policy_users (site) WHERE is_demo IS NULL;
CREATE INDEX policy_users_username ON policy_users (site, lower(username));

CREATE TABLE policy_sites (
    site         text        PRIMARY KEY,
    baseline     timestamptz,
    last_tick    timestamptz,
    last_feed_at timestamptz,
    demo_key     text        NOT NULL DEFAULT ''
);

-- policy.State per user; no row means nothing pending.
CREATE TABLE policy_states (
    site          text        NOT NULL,
    user_uuid     text        NOT NULL,
    rule          text        NOT NULL,
    anchor        timestamptz NOT NULL,
    due           timestamptz NOT NULL,
    deactivate_on timestamptz NOT NULL,
    warned_ns     bigint      NOT NULL DEFAULT 0,
    requested     boolean     NOT NULL DEFAULT false,
    dry_run       boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (site, user_uuid)
);

CREATE TABLE policy_exemptions (
    site       text        NOT NULL,
    user_uuid  text        NOT NULL,
    reason     text        NOT NULL,
    by_user    text        NOT NULL,
    until      timestamptz,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (site, user_uuid)
);

CREATE TABLE policy_held (
    site       text        NOT NULL,
    batch_id   text        NOT NULL,
    tick       timestamptz NOT NULL,
    reason     text        NOT NULL,
    lim        integer     NOT NULL,
    requests   jsonb       NOT NULL,
    status     text        NOT NULL,
    decided_by text        NOT NULL DEFAULT '',
    decided_at timestamptz,
    PRIMARY KEY (site, batch_id)
);

CREATE TABLE policy_history (
    id             bigserial   PRIMARY KEY,
    site           text        NOT NULL,
    user_uuid      text        NOT NULL DEFAULT '',
    kind           text        NOT NULL,
    at             timestamptz NOT NULL,
    policy_version text        NOT NULL DEFAULT '',
    by_user        text        NOT NULL DEFAULT '',
    reason         text        NOT NULL DEFAULT '',
    event_id       text        NOT NULL DEFAULT '',
    batch_id       text        NOT NULL DEFAULT '',
    would_be       boolean     NOT NULL DEFAULT false
);

CREATE INDEX policy_history_user ON policy_history (site, user_uuid, id);
