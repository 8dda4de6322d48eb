-- Every notification sent, keyed by the event id and channel (or the digest's day), so a
-- redelivered event never mails anybody twice.
CREATE TABLE notifier_sent (
    key        text        PRIMARY KEY,
    site       text        NOT NULL,
    recipients text        NOT NULL,
    sent_at    TIMESTAMP   NOT NULL
);

-- What the next daily digest lists: warnings (upcoming retirements), retirements done and
-- held batches. digest_id is set once a digest has listed the item.
CREATE TABLE notifier_digest_items (
    site       text        NOT NULL,
    event_id   text        NOT NULL,
    kind       text        NOT NULL,
    user_uuid  text        NOT NULL DEFAULT '',
    username   text        NOT NULL DEFAULT '',
    detail     text        NOT NULL DEFAULT '',
    occurred_at TIMESTAMP   NOT NULL,
    due_at     TIMESTAMP  ,
    digest_id  text,
    PRIMARY KEY (site, event_id)
);

CREATE INDEX notifier_digest_pending ON notifier_digest_items (site, digest_id);
