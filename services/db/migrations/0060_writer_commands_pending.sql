-- Commands the API recorded but Kafka has not confirmed yet: `pending`.
--
-- The API records a command as `pending` before it produces it, and moves it to `accepted`
-- only once the broker acknowledged the record. A command whose produce failed or timed out
-- stays `pending` (it may or may not be on the topic): the API produces it again until the
-- broker confirms, or, after `GHL_SYNC_API_PENDING_EXPIRY_SECONDS`, makes it `failed` with
-- the error code `not_on_topic`. The writer's claim moves `pending` or `accepted` to
-- `received`; a late record of a command already failed this way is skipped like any
-- terminal command. Nothing is ever reported as on the topic that Kafka did not confirm.

ALTER TABLE writer_commands DROP CONSTRAINT writer_commands_state_check;
ALTER TABLE writer_commands ADD CONSTRAINT writer_commands_state_check
    CHECK (state IN ('pending', 'accepted', 'received', 'succeeded', 'failed', 'rejected'));

CREATE INDEX writer_commands_pending_idx ON writer_commands (accepted_at)
    WHERE state = 'pending';
