-- Locations whose normalize work waits for a usable token, as each worker member sees them
-- (`ghl-sync status` reads it; the worker replaces its own rows every second while it runs).
CREATE TABLE IF NOT EXISTS normalize_parked (
    member       text        NOT NULL,
    location_id  text        NOT NULL,
    records      integer     NOT NULL,
    reason       text        NOT NULL,
    parked_since timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member, location_id)
);
