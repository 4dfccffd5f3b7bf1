-- Replay protection of the webhook receiver: one row per GHL webhookId. A delivery claims its
-- id, is produced to ghl.raw, and only then is marked persisted; a claim that is never
-- confirmed (a crashed receiver) expires after a lease, so a redelivery is never dropped for
-- a record that did not reach Kafka. Rows older than the accepted timestamp window are pruned.

CREATE TABLE webhook_receipts (
    webhook_id     text        PRIMARY KEY,
    state          text        NOT NULL CHECK (state IN ('claimed', 'persisted')),
    claim_token    uuid        NOT NULL,
    claimed_at     timestamptz NOT NULL,
    persisted_at   timestamptz,
    raw_partition  integer,
    raw_offset     bigint
);
CREATE INDEX webhook_receipts_claimed_idx ON webhook_receipts (claimed_at);
