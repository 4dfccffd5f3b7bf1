-- The contact as it was at a time: per entity of the contact, its newest snapshot not newer
-- than the time. This index lets the read skip from entity to entity and probe each once,
-- instead of sorting every snapshot of a busy contact.
CREATE INDEX history_contact_entity_idx
    ON history_snapshots (location_id, contact_id, entity_type, entity_id, version, deleted,
                          event_id);

-- Reads by contact id alone (the API's `location_id` is optional) find the location here.
CREATE INDEX history_contact_id_idx ON history_snapshots (contact_id);
