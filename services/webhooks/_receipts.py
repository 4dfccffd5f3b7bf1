"""Durable replay protection: one row per `webhookId` in PostgreSQL (`webhook_receipts`).

A delivery first *claims* its id (insert-if-absent), is produced to Kafka, and only then is
*confirmed*. The order is what makes a crash safe:

- crash after the claim, before Kafka confirmed: the claim expires after its lease and GHL's
  redelivery takes it over, so a delivery that never reached Kafka is never dropped;
- crash after Kafka confirmed, before the confirmation: same, and the redelivery is produced a
  second time; a duplicate raw record is harmless (normalize is idempotent);
- a produce that fails releases the claim at once, so the retry proceeds without waiting.

A second receiver instance that sees a live claim answers 429: the first one is persisting
it now, and GHL's retry will find the id confirmed (or the claim gone).

Claims and confirmations of concurrent deliveries are sent together: whatever arrived while
the previous statement ran goes in the next one (`unnest` of arrays), so a busy receiver makes
one round trip per batch instead of one per delivery, and an idle one waits for nobody. Each
delivery still gets its own answer, and nothing is answered before its statement committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from enum import Enum
from typing import Protocol

import asyncpg

from services.platform.batcher import Batcher as _Batcher
from services.platform.outage import DATABASE_ERRORS
from services.webhooks.exceptions import ReceiptStoreError

__all__ = ["Claim", "PostgresReceiptStore", "ReceiptStore"]

# The outage policy's set (a connection the outage left unusable raises InternalClientError)
# and the server's own errors.
_DB_ERRORS: tuple[type[Exception], ...] = (*DATABASE_ERRORS, asyncpg.PostgresError)


class Claim(Enum):
    """What a claim found."""

    OWNED = "owned"
    """Nobody had it: persist it now."""
    DUPLICATE = "duplicate"
    """Already persisted: a replay, answer 2xx and drop it."""
    IN_FLIGHT = "in_flight"
    """Another receiver claimed it moments ago: answer 429."""


class ReceiptStore(Protocol):
    """Where webhookIds are claimed and confirmed."""

    async def claim(self, webhook_id: str, token: uuid.UUID) -> Claim:
        """Claim `webhook_id` for this delivery."""
        ...

    async def confirm(
        self, webhook_id: str, token: uuid.UUID, *, partition: int, offset: int
    ) -> None:
        """Mark the id persisted at this raw-topic position."""
        ...

    async def release(self, webhook_id: str, token: uuid.UUID) -> None:
        """Give up an unconfirmed claim (the produce failed)."""
        ...


# The main query reads webhook_receipts as it was before the INSERT (a data-modifying CTE's
# rows are invisible to the rest of its statement), so `state` is what the claim ran into.
_CLAIM = """
WITH wanted AS (
    SELECT * FROM unnest($1::text[], $2::uuid[]) AS w(webhook_id, token)
), won AS (
    INSERT INTO webhook_receipts (webhook_id, state, claim_token, claimed_at)
    SELECT webhook_id, 'claimed', token, now() FROM wanted
    ON CONFLICT (webhook_id) DO UPDATE
       SET claim_token = EXCLUDED.claim_token, claimed_at = EXCLUDED.claimed_at
     WHERE webhook_receipts.state = 'claimed'
       AND webhook_receipts.claimed_at < now() - make_interval(secs => $3)
    RETURNING webhook_id
)
SELECT w.webhook_id, won.webhook_id IS NOT NULL AS won, r.state
  FROM wanted w
  LEFT JOIN won ON won.webhook_id = w.webhook_id
  LEFT JOIN webhook_receipts r ON r.webhook_id = w.webhook_id
"""
_CONFIRM = """
UPDATE webhook_receipts AS r
   SET state = 'persisted', persisted_at = now(), raw_partition = c.part, raw_offset = c.off
  FROM unnest($1::text[], $2::uuid[], $3::int[], $4::bigint[]) AS c(webhook_id, token, part, off)
 WHERE r.webhook_id = c.webhook_id AND r.claim_token = c.token
"""
_RELEASE = (
    "DELETE FROM webhook_receipts WHERE webhook_id = $1 AND claim_token = $2 AND state = 'claimed'"
)
_PRUNE = "DELETE FROM webhook_receipts WHERE claimed_at < now() - make_interval(secs => $1)"


class PostgresReceiptStore:
    """`ReceiptStore` on the `webhook_receipts` table (migration 0020), batching concurrent
    claims and confirmations into one statement each."""

    def __init__(self, pool: asyncpg.Pool, *, lease_seconds: float) -> None:
        self._pool = pool
        self._lease = lease_seconds
        self._claims: _Batcher[tuple[str, uuid.UUID], Claim] = _Batcher(self._claim_many)
        self._confirms: _Batcher[tuple[str, uuid.UUID, int, int], None] = _Batcher(
            self._confirm_many
        )

    async def claim(self, webhook_id: str, token: uuid.UUID) -> Claim:
        """Insert-if-absent (or take over an expired claim)."""
        try:
            return await self._claims.submit((webhook_id, token))
        except _DB_ERRORS as exc:
            raise ReceiptStoreError(f"cannot claim webhook: {type(exc).__name__}") from exc

    async def confirm(
        self, webhook_id: str, token: uuid.UUID, *, partition: int, offset: int
    ) -> None:
        """Record the persisted position."""
        try:
            await self._confirms.submit((webhook_id, token, partition, offset))
        except _DB_ERRORS as exc:
            raise ReceiptStoreError(f"cannot confirm webhook: {type(exc).__name__}") from exc

    async def release(self, webhook_id: str, token: uuid.UUID) -> None:
        """Delete our unconfirmed claim."""
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(_RELEASE, webhook_id, token)
        except _DB_ERRORS as exc:
            raise ReceiptStoreError(f"cannot release webhook: {type(exc).__name__}") from exc

    async def prune(self, older_than_seconds: float) -> int:
        """Delete receipts older than the timestamp window allows to come back."""
        async with self._pool.acquire() as conn:
            status = await conn.execute(_PRUNE, older_than_seconds)
        return int(status.split()[-1])

    async def _claim_many(self, claims: Sequence[tuple[str, uuid.UUID]]) -> list[Claim]:
        # One row per id per statement (ON CONFLICT DO UPDATE cannot touch a row twice): a
        # second delivery of an id in the same batch is in flight behind the first one.
        first: dict[str, uuid.UUID] = {}
        for webhook_id, token in claims:
            first.setdefault(webhook_id, token)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_CLAIM, list(first), list(first.values()), self._lease)
        found = {row["webhook_id"]: (row["won"], row["state"]) for row in rows}
        out: list[Claim] = []
        for webhook_id, token in claims:
            won, state = found[webhook_id]
            if won and first[webhook_id] == token:
                out.append(Claim.OWNED)
            elif not won and state == "persisted":
                out.append(Claim.DUPLICATE)
            else:
                # A live claim, or a row that appeared or vanished around our statement:
                # either way GHL's retry settles it.
                out.append(Claim.IN_FLIGHT)
        return out

    async def _confirm_many(
        self, confirms: Sequence[tuple[str, uuid.UUID, int, int]]
    ) -> list[None]:
        async with self._pool.acquire() as conn:
            await conn.execute(
                _CONFIRM,
                [c[0] for c in confirms],
                [c[1] for c in confirms],
                [c[2] for c in confirms],
                [c[3] for c in confirms],
            )
        return [None] * len(confirms)
