"""Kafka offsets a consumer stores in PostgreSQL with the data they produced.

A projection that applies a batch in one transaction stores, in the same transaction, the next
offset of every partition the batch read, in a table of rows `(consumer, topic, partition,
next_offset, updated_at)` keyed by the first three (`consumer_offsets` of the projections,
`history_offsets` of the history). A crash after the commit repeats nothing; a crash before it
repeats the whole batch.

Rows are locked in key order, so a second consumer on the same partitions (a zombie after a
rebalance) waits for the first one's commit, then sees the advanced offsets and skips what it
applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import asyncpg

__all__ = ["OffsetTable", "Partition"]

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

Partition = tuple[str, int]
"""(topic, partition)."""


class OffsetTable:
    """One consumer's rows of an offsets table (`table` is the code's own name, never input)."""

    def __init__(self, table: str, consumer: str) -> None:
        self.table = table
        self.consumer = consumer

    def __repr__(self) -> str:
        return f"OffsetTable({self.table!r}, {self.consumer!r})"

    async def read(self, conn: Connection | asyncpg.Pool, topic: str) -> dict[int, int]:
        """The next offset to apply, per partition of `topic` (unlocked)."""
        return await self._rows(conn, topic, "")

    async def lock_topic(self, conn: Connection, topic: str) -> dict[int, int]:
        """`read`, with the rows locked until the transaction ends (pauses their consumer)."""
        return await self._rows(conn, topic, " ORDER BY partition FOR UPDATE")

    async def _rows(
        self, conn: Connection | asyncpg.Pool, topic: str, locking: str
    ) -> dict[int, int]:
        rows = await conn.fetch(
            f"SELECT partition, next_offset FROM {self.table}"
            f" WHERE consumer = $1 AND topic = $2{locking}",
            self.consumer,
            topic,
        )
        return {row["partition"]: row["next_offset"] for row in rows}

    async def claim(
        self, conn: Connection, partitions: Iterable[Partition]
    ) -> dict[Partition, int]:
        """Inside a transaction: the next offset of each partition (0 for one never stored),
        its row locked until the transaction ends."""
        keys = sorted(set(partitions))
        # One statement: the upsert locks an existing row as FOR UPDATE would (a no-op update)
        # and a new one as its insert, in key order, and returns the row as it then stands.
        rows = await conn.fetch(
            f"INSERT INTO {self.table} AS o (consumer, topic, partition, next_offset)"
            " SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS u(t, p)"
            " ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = o.next_offset"
            " RETURNING topic, partition, next_offset",
            self.consumer,
            [t for t, _ in keys],
            [p for _, p in keys],
        )
        return {(row["topic"], row["partition"]): row["next_offset"] for row in rows}

    async def store(self, conn: Connection, next_offsets: Mapping[Partition, int]) -> None:
        """Set the claimed rows' next offsets (in the transaction that claimed them)."""
        keys = sorted(next_offsets)
        await conn.execute(
            f"UPDATE {self.table} AS o SET next_offset = u.n, updated_at = now()"
            " FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)"
            " WHERE o.consumer = $1 AND o.topic = u.t AND o.partition = u.p",
            self.consumer,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [next_offsets[k] for k in keys],
        )
