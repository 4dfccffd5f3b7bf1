-- An entry's fields are derived from the snapshot's `data` when it is read (flattened by
-- streams/history/rows.py); storing them as well doubled the JSON each event writes.
ALTER TABLE history_snapshots DROP COLUMN fields;
