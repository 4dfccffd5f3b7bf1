-- The history projection: one row per event of a contact or its children, in the order of the
-- projections' stamp (version, deleted, event_id). Entries (field-by-field changes) are derived
-- from each row and the one before it of the same entity, so a late older snapshot needs no
-- rewrite. The same event seen twice keeps one row (the earliest observation). The projection
-- keeps its Kafka offsets in its own table, written in the same transaction as its rows.

CREATE TABLE history_snapshots (
    location_id  text        NOT NULL,
    event_id     text        NOT NULL,
    contact_id   text        NOT NULL,
    entity_type  text        NOT NULL,
    entity_id    text        NOT NULL,
    version      timestamptz NOT NULL,
    deleted      boolean     NOT NULL,
    event_type   text        NOT NULL,
    occurred_at  timestamptz,
    observed_at  timestamptz NOT NULL,
    source       text        NOT NULL,
    fields       jsonb       NOT NULL,
    data         jsonb       NOT NULL,
    PRIMARY KEY (location_id, event_id)
);
CREATE INDEX history_contact_idx
    ON history_snapshots (location_id, contact_id, version, deleted, event_id);
CREATE INDEX history_entity_idx
    ON history_snapshots (location_id, entity_type, entity_id, version, deleted, event_id);

CREATE TABLE history_offsets (
    consumer     text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    next_offset  bigint      NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);
