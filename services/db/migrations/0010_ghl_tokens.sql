-- OAuth tokens of each GHL location, encrypted at rest (AES-256-GCM, key from the settings,
-- the location id and the column name bound in as associated data so a ciphertext cannot be
-- moved to another row or column). Refresh tokens are single-use: a refresh locks the row
-- (SELECT ... FOR UPDATE), re-reads it, and commits the new pair before anyone uses it.

CREATE TABLE ghl_tokens (
    location_id    text        PRIMARY KEY,
    company_id     text,
    user_type      text        NOT NULL DEFAULT 'Location',
    scope          text        NOT NULL DEFAULT '',
    access_token   bytea       NOT NULL,
    refresh_token  bytea,
    expires_at     timestamptz NOT NULL,
    refresh_count  bigint      NOT NULL DEFAULT 0,
    refreshed_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
