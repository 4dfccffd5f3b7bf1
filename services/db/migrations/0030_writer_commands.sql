-- Write-back: every APPNAME command's state, the writer's intent log, and recorded conflicts.
--
-- `writer_commands` is keyed by the command id (APPNAME's idempotency key). The API inserts a
-- row as `accepted` when the command is on the commands topic; the writer moves it to
-- `received`, then to one terminal state (`succeeded`, `failed`, `rejected`) and never back.
--
-- `phase = 'sent'` is written and committed *before* a non-idempotent request (a create) goes
-- to GHL: a writer that finds it after a crash, a timeout or a 422 knows the create may have
-- happened and looks for the created record before it sends the create again.
-- `events` holds the canonical events of a terminal command until they are published.
-- `entity_id` of a terminal create is the record it made (or adopted), so a later lookup for
-- an identical create of the same contact never adopts a record another command made.

CREATE TABLE writer_commands (
    command_id      text        PRIMARY KEY,
    location_id     text        NOT NULL,
    contact_id      text,
    command_type    text        NOT NULL,
    digest          text        NOT NULL,
    command         jsonb       NOT NULL,
    state           text        NOT NULL
                    CHECK (state IN ('accepted', 'received', 'succeeded', 'failed', 'rejected')),
    phase           text        NOT NULL DEFAULT 'new' CHECK (phase IN ('new', 'sent', 'done')),
    attempts        int         NOT NULL DEFAULT 0,
    first_sent_at   timestamptz,
    entity_type     text,
    entity_id       text,
    result          jsonb,
    events          text[],
    published       boolean     NOT NULL DEFAULT false,
    submitted_at    timestamptz,
    accepted_at     timestamptz NOT NULL DEFAULT now(),
    received_at     timestamptz,
    ghl_done_at     timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    kafka_partition int,
    kafka_offset    bigint
);
CREATE INDEX writer_commands_created_idx
    ON writer_commands (location_id, contact_id, entity_type)
    WHERE entity_id IS NOT NULL;
CREATE INDEX writer_commands_open_idx ON writer_commands (state)
    WHERE state IN ('accepted', 'received');

-- One row per conflict met: the command's expected version, GHL's, and what the policy did.
CREATE TABLE writer_conflicts (
    command_id        text        NOT NULL REFERENCES writer_commands (command_id),
    location_id       text        NOT NULL,
    entity_type       text        NOT NULL,
    entity_id         text        NOT NULL,
    expected_version  timestamptz NOT NULL,
    current_version   timestamptz NOT NULL,
    policy            text        NOT NULL CHECK (policy IN ('reject', 'merge', 'force')),
    resolution        jsonb       NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (command_id)
);
