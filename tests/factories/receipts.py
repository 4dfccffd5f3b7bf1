"""`InMemoryReceiptStore`: the webhook receipt store's contract in a dict, for tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from services.webhooks import Claim

__all__ = ["InMemoryReceiptStore"]


@dataclass
class _Receipt:
    state: str
    token: uuid.UUID
    claimed_at: float
    position: tuple[int, int] | None = None


class InMemoryReceiptStore:
    """Claims, confirmations and releases as `PostgresReceiptStore` makes them, in memory: a
    claim older than `lease_seconds` is taken over, a persisted id is a duplicate for ever."""

    def __init__(
        self, *, lease_seconds: float = 30.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._lease = lease_seconds
        self._clock = clock
        self.rows: dict[str, _Receipt] = {}

    async def claim(self, webhook_id: str, token: uuid.UUID) -> Claim:
        held = self.rows.get(webhook_id)
        now = self._clock()
        if held is None or (held.state == "claimed" and held.claimed_at < now - self._lease):
            self.rows[webhook_id] = _Receipt("claimed", token, now)
            return Claim.OWNED
        return Claim.DUPLICATE if held.state == "persisted" else Claim.IN_FLIGHT

    async def confirm(
        self, webhook_id: str, token: uuid.UUID, *, partition: int, offset: int
    ) -> None:
        held = self.rows.get(webhook_id)
        if held is not None and held.token == token:
            held.state, held.position = "persisted", (partition, offset)

    async def release(self, webhook_id: str, token: uuid.UUID) -> None:
        held = self.rows.get(webhook_id)
        if held is not None and held.state == "claimed" and held.token == token:
            del self.rows[webhook_id]

    def position(self, webhook_id: str) -> tuple[int, int] | None:
        """Where a persisted id's record is on the raw topic."""
        held = self.rows.get(webhook_id)
        return held.position if held is not None else None
