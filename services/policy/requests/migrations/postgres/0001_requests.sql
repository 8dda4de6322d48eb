-- Reactivation requests made on the public page, and what an admin decided about each.
-- Every well-formed request is kept, whether or not its username exists: the page answers
-- alike either way, and the admin queue says which accounts are known.
CREATE TABLE reactivation_requests (
    id              text        PRIMARY KEY,
    site            text        NOT NULL,
    username        text        NOT NULL,
    note            text        NOT NULL DEFAULT '',
    client_ip       text        NOT NULL DEFAULT '',
    requested_at    timestamptz NOT NULL,
    -- pending, approved, rejected
    status          text        NOT NULL,
    user_uuid       text        NOT NULL DEFAULT '',
    decided_by      text        NOT NULL DEFAULT '',
    decision_reason text        NOT NULL DEFAULT '',
    decided_at      timestamptz
);

CREATE INDEX reactivation_requests_site ON reactivation_requests (site, status, requested_at);
