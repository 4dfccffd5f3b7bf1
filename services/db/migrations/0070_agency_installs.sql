-- Agency installs: the Company token of each agency, the install state of each
-- (company, location), the location -> company map, INSTALLs whose company is not known yet,
-- and a log of every install event with what it did and why.
--
-- Company tokens are kept exactly like location tokens (`ghl_tokens`): AES-256-GCM at rest,
-- a refresh locks the row (SELECT ... FOR UPDATE), re-reads it and commits the new pair before
-- anyone uses it (refresh tokens are single-use).

CREATE TABLE ghl_company_tokens (
    company_id                  text        PRIMARY KEY,
    user_type                   text        NOT NULL DEFAULT 'Company',
    user_id                     text,
    scope                       text        NOT NULL DEFAULT '',
    access_token                bytea       NOT NULL,
    refresh_token               bytea,
    expires_at                  timestamptz NOT NULL,
    install_to_future_locations boolean     NOT NULL DEFAULT false,
    approve_all_locations       boolean     NOT NULL DEFAULT false,
    refresh_count               bigint      NOT NULL DEFAULT 0,
    refreshed_at                timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);

-- A location belongs to one company; INSTALLs through "future locations" may omit companyId,
-- and UNINSTALLs of a sub-account name only the location: this map answers for them.
CREATE TABLE ghl_location_companies (
    location_id  text        PRIMARY KEY,
    company_id   text        NOT NULL,
    name         text,
    learned_from text        NOT NULL,
    learned_at   timestamptz NOT NULL DEFAULT now()
);

-- The state of each installation. `state_at` is the time of the fact that set the state (the
-- webhook's `timestamp`, or when installedLocations was read): a fact older than it is stale
-- and changes nothing, which makes duplicate and out-of-order deliveries harmless.
--   pending      INSTALL seen, but the company has no token yet (before or during the
--                code exchange, or a company that never authorised the app)
--   installed    the app is installed and a location token can be had: onboard and poll
--   uninstalled  polling, writes and enrichment stop
CREATE TABLE ghl_installations (
    company_id   text        NOT NULL,
    location_id  text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('pending', 'installed', 'uninstalled')),
    state_at     timestamptz NOT NULL,
    source       text        NOT NULL,
    installed_at timestamptz,
    onboarded_at timestamptz,
    uninstalled_at timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, location_id)
);
CREATE UNIQUE INDEX ghl_installations_location ON ghl_installations (location_id);
CREATE INDEX ghl_installations_state ON ghl_installations (state, company_id);

-- INSTALLs that named no company for a location the map does not know yet; applied as soon as
-- the map learns the location (LocationCreate, installedLocations).
CREATE TABLE ghl_install_orphans (
    location_id  text        PRIMARY KEY,
    event_at     timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Every install fact and its outcome (applied, duplicate, stale, pending, ignored...).
CREATE TABLE ghl_install_log (
    id           bigserial   PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    kind         text        NOT NULL,
    company_id   text,
    location_id  text,
    event_at     timestamptz,
    outcome      text        NOT NULL,
    reason       text        NOT NULL
);
CREATE INDEX ghl_install_log_location ON ghl_install_log (location_id, id);

-- What the poller, the writer and enrichment may act for: every location holding a token
-- whose installation is not `uninstalled` (per-location installs made before agency installs
-- existed have a token and no installation row; they stay active).
CREATE VIEW ghl_active_locations AS
SELECT t.location_id, t.company_id, coalesce(i.state, 'installed') AS state
FROM ghl_tokens t
LEFT JOIN ghl_installations i ON i.location_id = t.location_id
WHERE coalesce(i.state, 'installed') = 'installed';
