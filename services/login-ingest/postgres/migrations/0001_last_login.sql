-- One row per user and site: the latest successful login dormant has seen.
CREATE TABLE last_login (
    site              text        NOT NULL,
    user_uuid         text        NOT NULL,
    username          text        NOT NULL DEFAULT '',
    location_uuid     text        NOT NULL DEFAULT '',
    last_login_at     timestamptz NOT NULL,
    previous_login_at timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, user_uuid)
);

-- Serves "who has not logged in since ..." per site.
CREATE INDEX last_login_site_at ON last_login (site, last_login_at);
