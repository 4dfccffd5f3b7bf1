"""`WriterStore`: command state, the intent log and conflicts in PostgreSQL (`writer_commands`);
the writer keeps them and the API reads the accepted records and results through it.

Every method is one statement or one transaction, so a crash between two of them leaves a
state the writer resumes from: `received` with `phase = 'sent'` means "a create may have
reached GHL", terminal with `published = false` means "results not yet on Kafka", and
`pending` means "the API recorded it, Kafka has not confirmed it" (0060's header).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

__all__ = ["AcceptedRow", "CommandRow", "WriterStore"]

TERMINAL = frozenset({"succeeded", "failed", "rejected"})


@dataclass(frozen=True, slots=True)
class AcceptedRow:
    """What the API records for a command before it puts it on the topic."""

    command_id: str
    location_id: str
    contact_id: str | None
    command_type: str
    digest: str
    command_json: str


@dataclass(frozen=True, slots=True)
class CommandRow:
    """The writer's view of one command's state."""

    command_id: str
    digest: str
    state: str
    phase: str
    attempts: int
    first_sent_at: datetime | None
    result: str | None
    events: list[str]
    published: bool

    @property
    def terminal(self) -> bool:
        """Whether the command reached its final state."""
        return self.state in TERMINAL


def _row(record: asyncpg.Record) -> CommandRow:
    # `_COLUMNS` names the columns as the fields are named.
    return CommandRow(**{**dict(record), "events": list(record["events"] or ())})


_ACCEPTED_FIELDS = ("command_id", "location_id", "contact_id", "command_type", "digest")
"""The text fields of an `AcceptedRow`, in the order `record_accepted` unnests them ($1-$5);
`command_json` is $6."""


def _arrays(rows: Sequence[AcceptedRow]) -> list[list[Any]]:
    """The arrays `record_accepted` unnests, by field name (not by the dataclass's order)."""
    return [
        *([getattr(r, name) for r in rows] for name in _ACCEPTED_FIELDS),
        [r.command_json for r in rows],
    ]


_COLUMNS = (
    "command_id, digest, state, phase, attempts, first_sent_at, result::text AS result, "
    "events, published"
)


class WriterStore:
    """Command state in the `writer_commands` table; `pool` connections must see it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record_accepted(self, rows: Sequence[AcceptedRow]) -> dict[str, str]:
        """Insert `pending` rows (one statement), to become `accepted` once Kafka confirmed
        them (`mark_produced`); returns {command_id: digest} of the ones that already existed,
        whatever their state."""
        if not rows:
            return {}
        records = await self._pool.fetch(
            """
            WITH incoming AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                     $5::text[], $6::jsonb[])
                    AS t(command_id, location_id, contact_id, command_type, digest, command)
            ), inserted AS (
                INSERT INTO writer_commands
                    (command_id, location_id, contact_id, command_type, digest, command, state)
                SELECT command_id, location_id, contact_id, command_type, digest, command,
                       'pending'
                FROM incoming
                ON CONFLICT (command_id) DO NOTHING
                RETURNING command_id
            )
            SELECT w.command_id, w.digest FROM writer_commands w
            JOIN incoming i USING (command_id)
            WHERE w.command_id NOT IN (SELECT command_id FROM inserted)
            """,
            *_arrays(rows),
        )
        return {r["command_id"]: r["digest"] for r in records}

    async def claim(
        self,
        *,
        command_id: str,
        location_id: str,
        contact_id: str | None,
        command_type: str,
        digest: str,
        command_json: str,
        partition: int,
        offset: int,
        submitted_at: datetime | None,
    ) -> CommandRow:
        """The command's row, created as `received` if the API did not record it; a `pending`
        or `accepted` row becomes `received`. A terminal row is returned unchanged."""
        record = await self._pool.fetchrow(
            f"""
            INSERT INTO writer_commands AS w
                (command_id, location_id, contact_id, command_type, digest, command, state,
                 received_at, submitted_at, kafka_partition, kafka_offset)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'received', now(), $7, $8, $9)
            ON CONFLICT (command_id) DO UPDATE SET
                state = CASE WHEN w.state IN ('pending', 'accepted')
                                  AND w.digest = EXCLUDED.digest
                             THEN 'received' ELSE w.state END,
                received_at = coalesce(w.received_at, now()),
                submitted_at = coalesce(w.submitted_at, EXCLUDED.submitted_at),
                kafka_partition = coalesce(w.kafka_partition, EXCLUDED.kafka_partition),
                kafka_offset = coalesce(w.kafka_offset, EXCLUDED.kafka_offset),
                updated_at = now()
            RETURNING {_COLUMNS}
            """,
            command_id,
            location_id,
            contact_id,
            command_type,
            digest,
            command_json,
            submitted_at,
            partition,
            offset,
        )
        assert record is not None
        return _row(record)

    async def mark_produced(self, command_ids: Sequence[str]) -> None:
        """Kafka confirmed these commands: `pending` becomes `accepted` (a row the writer
        already claimed is left as it is)."""
        await self._pool.execute(
            "UPDATE writer_commands SET state = 'accepted', updated_at = now() "
            "WHERE command_id = ANY($1::text[]) AND state = 'pending'",
            list(command_ids),
        )

    async def pending(self, *, older_than: float, limit: int) -> list[AcceptedRow]:
        """`pending` commands recorded more than `older_than` seconds ago, oldest first."""
        records = await self._pool.fetch(
            """
            SELECT command_id, location_id, contact_id, command_type, digest,
                   command::text AS command_json
            FROM writer_commands
            WHERE state = 'pending' AND accepted_at < now() - make_interval(secs => $1)
            ORDER BY accepted_at LIMIT $2
            """,
            older_than,
            limit,
        )
        return [AcceptedRow(**dict(r)) for r in records]

    async def fail_unproduced(self, *, older_than: float, result_json: str) -> list[str]:
        """Make `pending` commands older than `older_than` seconds `failed` with
        `result_json` (its `command_id`, `command_type`, `location_id` and `completed_at` are
        filled in per row); returns their ids."""
        records = await self._pool.fetch(
            """
            UPDATE writer_commands SET state = 'failed', phase = 'done',
                result = jsonb_set($2::jsonb, '{command_id}', to_jsonb(command_id))
                         || jsonb_build_object('command_type', command_type,
                                               'location_id', location_id,
                                               'completed_at', to_jsonb(now())),
                finished_at = now(), updated_at = now()
            WHERE state = 'pending' AND accepted_at < now() - make_interval(secs => $1)
            RETURNING command_id
            """,
            older_than,
            result_json,
        )
        return [r["command_id"] for r in records]

    async def mark_sent(self, command_id: str) -> CommandRow:
        """Record, before sending, that a non-idempotent request is about to reach GHL."""
        record = await self._pool.fetchrow(
            f"""
            UPDATE writer_commands SET phase = 'sent', attempts = attempts + 1,
                first_sent_at = coalesce(first_sent_at, now()), updated_at = now()
            WHERE command_id = $1
            RETURNING {_COLUMNS}
            """,
            command_id,
        )
        assert record is not None
        return _row(record)

    async def claimed_entities(
        self, *, location_id: str, contact_id: str | None, entity_type: str, exclude: str
    ) -> set[str]:
        """Ids of records other commands created (or adopted) for this contact (any contact
        when `contact_id` is None)."""
        records = await self._pool.fetch(
            """
            SELECT entity_id FROM writer_commands
            WHERE location_id = $1 AND ($2::text IS NULL OR contact_id = $2)
              AND entity_type = $3 AND entity_id IS NOT NULL AND command_id <> $4
            """,
            location_id,
            contact_id,
            entity_type,
            exclude,
        )
        return {r["entity_id"] for r in records}

    async def finish(
        self,
        command_id: str,
        *,
        state: str,
        result_json: str,
        events: Sequence[str],
        contact_id: str | None,
        entity_type: str | None,
        entity_id: str | None,
        attempts: int,
        ghl_done_at: datetime | None,
        conflict: dict[str, Any] | None = None,
    ) -> None:
        """Make the command terminal (and record its conflict) in one transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                UPDATE writer_commands SET state = $2, phase = 'done', result = $3::jsonb,
                    contact_id = coalesce($4, contact_id), entity_type = $5, entity_id = $6,
                    attempts = greatest(attempts, $7), ghl_done_at = $8, events = $9::text[],
                    finished_at = now(), updated_at = now()
                WHERE command_id = $1 AND state NOT IN ('succeeded', 'failed', 'rejected')
                """,
                command_id,
                state,
                result_json,
                contact_id,
                entity_type,
                entity_id,
                attempts,
                ghl_done_at,
                list(events),
            )
            if conflict is not None:
                await conn.execute(
                    """
                    INSERT INTO writer_conflicts (command_id, location_id, entity_type,
                        entity_id, expected_version, current_version, policy, resolution)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
                    ON CONFLICT (command_id) DO NOTHING
                    """,
                    command_id,
                    conflict["location_id"],
                    conflict["entity_type"],
                    conflict["entity_id"],
                    datetime.fromisoformat(conflict["expected_version"]),
                    datetime.fromisoformat(conflict["current_version"]),
                    conflict["policy"],
                    json.dumps(conflict["resolution"]),
                )

    async def mark_published(self, command_ids: Sequence[str]) -> None:
        """Results and events of these commands are on Kafka."""
        await self._pool.execute(
            "UPDATE writer_commands SET published = true, events = NULL "
            "WHERE command_id = ANY($1::text[])",
            list(command_ids),
        )

    async def status(self, command_id: str) -> dict[str, Any] | None:
        """State, result and times of one command, for `GET /v1/commands/{id}`."""
        record = await self._pool.fetchrow(
            """
            SELECT command_id, command_type, location_id, contact_id, state, attempts,
                   result::text AS result, accepted_at, received_at, finished_at
            FROM writer_commands WHERE command_id = $1
            """,
            command_id,
        )
        if record is None:
            return None
        data = dict(record)
        data["result"] = json.loads(data["result"]) if data["result"] else None
        return data

    async def stored_offsets(self, consumer: str, topic: str) -> dict[int, int]:
        """Next offset to read per partition, as last saved."""
        records = await self._pool.fetch(
            "SELECT partition, next_offset FROM consumer_offsets "
            "WHERE consumer = $1 AND topic = $2",
            consumer,
            topic,
        )
        return {r["partition"]: r["next_offset"] for r in records}

    async def save_offsets(self, consumer: str, topic: str, offsets: dict[int, int]) -> None:
        """Save the next offset to read per partition."""
        if not offsets:
            return
        await self._pool.execute(
            """
            INSERT INTO consumer_offsets (consumer, topic, partition, next_offset)
            SELECT $1, $2, p, o FROM unnest($3::int[], $4::bigint[]) AS t(p, o)
            ON CONFLICT (consumer, topic, partition)
            DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()
            """,
            consumer,
            topic,
            list(offsets),
            list(offsets.values()),
        )
