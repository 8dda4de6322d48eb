-- One row per user and site: the latest successful login dormant has seen. Times are unix
-- microseconds: exact, sortable, and the same precision PostgreSQL keeps.
CREATE TABLE last_login (
    site              TEXT    NOT NULL,
    user_uuid         TEXT    NOT NULL,
    username          TEXT    NOT NULL DEFAULT '',
    location_uuid     TEXT    NOT NULL DEFAULT '',
    last_login_at     INTEGER NOT NULL,
    previous_login_at INTEGER,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (site, user_uuid)
);

CREATE INDEX last_login_site_at ON last_login (site, last_login_at);
