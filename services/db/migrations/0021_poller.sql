-- The poller's state per location: the contacts cursor (highest dateUpdated seen; each poll
-- goes back an overlap window from it, for GHL's search-index lag) and when each periodic
-- job last ran. `poller_digests` holds the payload digest of the last snapshot the poller
-- emitted per entity, so a sweep emits only what changed (tasks and notes have no dateUpdated).

CREATE TABLE poller_locations (
    location_id        text        PRIMARY KEY,
    contacts_cursor    timestamptz,
    tasks_swept_at     timestamptz,
    children_swept_at  timestamptz,
    reconciled_at      timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE poller_digests (
    location_id  text        NOT NULL,
    entity_type  text        NOT NULL,
    entity_id    text        NOT NULL,
    digest       text        NOT NULL,
    emitted_at   timestamptz NOT NULL,
    PRIMARY KEY (location_id, entity_type, entity_id)
);

-- Resumable backfill: the position after the last page whose events Kafka confirmed.
CREATE TABLE backfill_progress (
    location_id   text        PRIMARY KEY,
    phase         text        NOT NULL,
    cursor        jsonb,
    contacts_done bigint      NOT NULL DEFAULT 0,
    tasks_done    bigint      NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
