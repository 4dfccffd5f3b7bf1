-- The projections APPNAME reads, and the Kafka positions they were built from.
-- Every table is keyed by (location_id, id). A row holds the newest fact known about its
-- entity, ordered by the stamp (version, deleted_at IS NOT NULL, event_id): `version` is the
-- time of the snapshot (GHL's dateUpdated where it exists, else when it was observed), a
-- tombstone wins a tie, and the event id breaks the rest, so any order of the same events
-- ends in the same row. `deleted_at` marks a tombstone, which hides the row until a newer
-- snapshot says otherwise. Tags live in `contacts.tags` (GIN-indexed for tag lookups).

CREATE TABLE contacts (
    location_id   text        NOT NULL,
    id            text        NOT NULL,
    first_name    text,
    last_name     text,
    name          text,
    email         text,
    phone         text,
    company_name  text,
    assigned_to   text,
    tags          text[]      NOT NULL DEFAULT '{}',
    date_added    timestamptz,
    date_updated  timestamptz,
    data          jsonb       NOT NULL,
    version       timestamptz NOT NULL,
    event_id      text        NOT NULL,
    deleted_at    timestamptz,
    PRIMARY KEY (location_id, id)
);
CREATE INDEX contacts_email_idx ON contacts (location_id, lower(email));
CREATE INDEX contacts_phone_idx ON contacts (location_id, phone);
CREATE INDEX contacts_updated_idx ON contacts (location_id, date_updated);
CREATE INDEX contacts_assigned_idx ON contacts (location_id, assigned_to);
CREATE INDEX contacts_tags_idx ON contacts USING gin (tags);

CREATE TABLE tasks (
    location_id   text        NOT NULL,
    id            text        NOT NULL,
    contact_id    text        NOT NULL,
    title         text,
    body          text,
    assigned_to   text,
    due_date      timestamptz,
    completed     boolean,
    data          jsonb       NOT NULL,
    version       timestamptz NOT NULL,
    event_id      text        NOT NULL,
    deleted_at    timestamptz,
    PRIMARY KEY (location_id, id)
);
CREATE INDEX tasks_contact_idx ON tasks (location_id, contact_id);
CREATE INDEX tasks_due_idx ON tasks (location_id, assigned_to, due_date) WHERE NOT completed;

CREATE TABLE notes (
    location_id   text        NOT NULL,
    id            text        NOT NULL,
    contact_id    text        NOT NULL,
    body          text,
    user_id       text,
    date_added    timestamptz,
    data          jsonb       NOT NULL,
    version       timestamptz NOT NULL,
    event_id      text        NOT NULL,
    deleted_at    timestamptz,
    PRIMARY KEY (location_id, id)
);
CREATE INDEX notes_contact_idx ON notes (location_id, contact_id);

CREATE TABLE appointments (
    location_id        text        NOT NULL,
    id                 text        NOT NULL,
    contact_id         text        NOT NULL,
    calendar_id        text,
    title              text,
    status             text,
    assigned_user_id   text,
    start_time         timestamptz,
    end_time           timestamptz,
    data               jsonb       NOT NULL,
    version            timestamptz NOT NULL,
    event_id           text        NOT NULL,
    deleted_at         timestamptz,
    PRIMARY KEY (location_id, id)
);
CREATE INDEX appointments_contact_idx ON appointments (location_id, contact_id);
CREATE INDEX appointments_start_idx ON appointments (location_id, start_time);

-- The next offset to consume per (consumer, topic, partition), written in the same
-- transaction as the rows a batch changed: after a crash, what is below it was applied and
-- is skipped, what is at or above it was not.
CREATE TABLE consumer_offsets (
    consumer     text        NOT NULL,
    topic        text        NOT NULL,
    partition    int         NOT NULL,
    next_offset  bigint      NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);

-- One row per applied batch and partition: the offsets it covered. Overlapping ranges
-- would mean an event applied twice; the crash tests check there are none.
CREATE TABLE applied_batches (
    consumer     text        NOT NULL,
    topic        text        NOT NULL,
    partition    int         NOT NULL,
    from_offset  bigint      NOT NULL,
    to_offset    bigint      NOT NULL,
    events       int         NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition, from_offset)
);
