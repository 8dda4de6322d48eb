-- The policy service's projection of each site's users. Times are unix microseconds; roles
-- and properties are JSON text.
CREATE TABLE policy_users (
    site          TEXT    NOT NULL,
    user_uuid     TEXT    NOT NULL,
    username      TEXT    NOT NULL DEFAULT '',
    system_id     TEXT    NOT NULL DEFAULT '',
    given_name    TEXT    NOT NULL DEFAULT '',
    family_name   TEXT    NOT NULL DEFAULT '',
    email         TEXT    NOT NULL DEFAULT '',
    roles         TEXT    NOT NULL DEFAULT '[]',
    properties    TEXT    NOT NULL DEFAULT '{}',
    created_at    INTEGER,
    retired       INTEGER NOT NULL DEFAULT 0,
    synced_at     INTEGER,
    last_login_at INTEGER,
    PRIMARY KEY (site, user_uuid)
);

CREATE INDEX policy_users_site_login ON policy_users (site, last_login_at);
