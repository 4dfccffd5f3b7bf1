-- Custom field definitions per location, as GHL's GET /locations/{id}/customFields gives them
-- (synced by services/customfields/store.py); the read API types custom values with them.
CREATE TABLE custom_field_definitions (
    location_id  text        NOT NULL,
    id           text        NOT NULL,
    key          text        NOT NULL,
    name         text        NOT NULL,
    data_type    text        NOT NULL,
    options      text[]      NOT NULL DEFAULT '{}',
    synced_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (location_id, id)
);
CREATE UNIQUE INDEX custom_field_definitions_key_idx ON custom_field_definitions (location_id, key);
