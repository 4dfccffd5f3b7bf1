-- The poller at scale (services/poller/): per-contact sweep state, which locations to poll,
-- leases that share them between poller instances, and each location's quota plan.
--
-- poller_contacts: the dateUpdated the poller last read for each contact (a poll that finds
--   the same stamp again reads nothing more) and when its children were last read (the
--   sweep goes stalest first; the oldest `swept_at` is the safety net's staleness).
-- poller_targets: locations registered for polling (`enabled`) or removed (`NOT enabled`)
--   by another component (agency installs); see services/poller/README.md.
-- poller_instances / poller_leases: an instance polls a location only while it holds an
--   unexpired lease; an expired lease is free for any live instance.
-- poller_plans: the plan each location runs (for `ghl-sync status` and metrics).

CREATE TABLE poller_contacts (
    location_id   text        NOT NULL,
    contact_id    text        NOT NULL,
    date_updated  timestamptz,
    swept_at      timestamptz,
    PRIMARY KEY (location_id, contact_id)
);

CREATE TABLE poller_targets (
    location_id  text        PRIMARY KEY,
    enabled      boolean     NOT NULL,
    reason       text,
    changed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE poller_instances (
    instance_id   text        PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE poller_leases (
    location_id  text        PRIMARY KEY,
    holder       text        NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    epoch        bigint      NOT NULL DEFAULT 1
);
CREATE INDEX poller_leases_holder_idx ON poller_leases (holder);

CREATE TABLE poller_plans (
    location_id        text             PRIMARY KEY,
    holder             text,
    contacts           integer          NOT NULL,
    tasks              integer          NOT NULL,
    projected          jsonb            NOT NULL,
    projected_daily    double precision NOT NULL,
    staleness_bound_s  double precision NOT NULL,
    oldest_swept_at    timestamptz,
    updated_at         timestamptz      NOT NULL DEFAULT now()
);
