-- What the roster sync last published for each user, so the next sync publishes only users
-- whose facts changed, and the names it read from GET /person, so it asks again only when the
-- person's display (given in GET /user?v=full) changed.
CREATE TABLE roster_users (
    site           TEXT        NOT NULL,
    user_uuid      TEXT        NOT NULL,
    fingerprint    TEXT        NOT NULL,
    person_uuid    TEXT        NOT NULL DEFAULT '',
    person_display TEXT        NOT NULL DEFAULT '',
    given_name     TEXT        NOT NULL DEFAULT '',
    family_name    TEXT        NOT NULL DEFAULT '',
    synced_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site, user_uuid)
);

-- One row per site: where a sync in progress resumes (next_index, the startIndex of GET /user)
-- and what the last finished sync saw.
CREATE TABLE roster_checkpoints (
    site              TEXT        PRIMARY KEY,
    running           BOOLEAN     NOT NULL DEFAULT FALSE,
    next_index        INTEGER     NOT NULL DEFAULT 0,
    started_at        TIMESTAMPTZ,
    users_read        INTEGER     NOT NULL DEFAULT 0,
    users_published   INTEGER     NOT NULL DEFAULT 0,
    last_total        INTEGER     NOT NULL DEFAULT 0,
    last_completed_at TIMESTAMPTZ
);
