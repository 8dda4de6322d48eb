-- What the actuator did with each deactivation request, so a redelivered request is answered
-- from here, and admins can see why a decision was not carried out (superseded, refused).
CREATE TABLE actuator_decisions (
    site        text        NOT NULL,
    decision_id text        NOT NULL,
    user_uuid   text        NOT NULL,
    username    text        NOT NULL DEFAULT '',
    -- deactivated, superseded, would_be, refused, failed
    outcome     text        NOT NULL,
    detail      text        NOT NULL DEFAULT '',
    decided_at  timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (site, decision_id)
);

CREATE INDEX actuator_decisions_user ON actuator_decisions (site, user_uuid);

-- Who reactivated whom, when and why.
CREATE TABLE actuator_reactivations (
    id             text        PRIMARY KEY,
    site           text        NOT NULL,
    user_uuid      text        NOT NULL,
    username       text        NOT NULL DEFAULT '',
    by_whom        text        NOT NULL,
    reason         text        NOT NULL,
    was_retired    boolean     NOT NULL,
    reactivated_at timestamptz NOT NULL
);

CREATE INDEX actuator_reactivations_user ON actuator_reactivations (site, user_uuid, reactivated_at);
