-- The policy service's projection of each site's users, built from dormant.user.synced
-- (roster facts) and dormant.lastlogin.recorded (last login).
CREATE TABLE policy_users (
    site          text        NOT NULL,
    user_uuid     text        NOT NULL,
    username      text        NOT NULL DEFAULT '',
    system_id     text        NOT NULL DEFAULT '',
    given_name    text        NOT NULL DEFAULT '',
    family_name   text        NOT NULL DEFAULT '',
    email         text        NOT NULL DEFAULT '',
    roles         jsonb       NOT NULL DEFAULT '[]',
    properties    jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz,
    retired       boolean     NOT NULL DEFAULT false,
    -- NULL until the roster sync has seen the user (a login may arrive first).
    synced_at     timestamptz,
    last_login_at timestamptz,
    PRIMARY KEY (site, user_uuid)
);

CREATE INDEX policy_users_site_login ON policy_users (site, last_login_at);
