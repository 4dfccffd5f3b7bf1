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
"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Protocol

import asyncpg

from services.webhooks.exceptions import ReceiptStoreError

__all__ = ["Claim", "PostgresReceiptStore", "ReceiptStore"]

_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


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


_CLAIM = """
INSERT INTO webhook_receipts (webhook_id, state, claim_token, claimed_at)
VALUES ($1, 'claimed', $2, now())
ON CONFLICT (webhook_id) DO UPDATE
   SET claim_token = EXCLUDED.claim_token, claimed_at = EXCLUDED.claimed_at
 WHERE webhook_receipts.state = 'claimed'
   AND webhook_receipts.claimed_at < now() - make_interval(secs => $3)
RETURNING claim_token
"""
_STATE = "SELECT state FROM webhook_receipts WHERE webhook_id = $1"
_CONFIRM = """
UPDATE webhook_receipts
   SET state = 'persisted', persisted_at = now(), raw_partition = $3, raw_offset = $4
 WHERE webhook_id = $1 AND claim_token = $2
"""
_RELEASE = (
    "DELETE FROM webhook_receipts WHERE webhook_id = $1 AND claim_token = $2 AND state = 'claimed'"
)
_PRUNE = "DELETE FROM webhook_receipts WHERE claimed_at < now() - make_interval(secs => $1)"


class PostgresReceiptStore:
    """`ReceiptStore` on the `webhook_receipts` table (migration 0020)."""

    def __init__(self, pool: asyncpg.Pool, *, lease_seconds: float) -> None:
        self._pool = pool
        self._lease = lease_seconds

    async def claim(self, webhook_id: str, token: uuid.UUID) -> Claim:
        """Insert-if-absent (or take over an expired claim)."""
        try:
            async with self._pool.acquire() as conn:
                won = await conn.fetchval(_CLAIM, webhook_id, token, self._lease)
                if won is not None:
                    return Claim.OWNED
                state = await conn.fetchval(_STATE, webhook_id)
        except _DB_ERRORS as exc:
            raise ReceiptStoreError(f"cannot claim webhook: {type(exc).__name__}") from exc
        if state is None:  # released between the two statements: let GHL retry
            return Claim.IN_FLIGHT
        return Claim.DUPLICATE if state == "persisted" else Claim.IN_FLIGHT

    async def confirm(
        self, webhook_id: str, token: uuid.UUID, *, partition: int, offset: int
    ) -> None:
        """Record the persisted position."""
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(_CONFIRM, webhook_id, token, partition, offset)
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
