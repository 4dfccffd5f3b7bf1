"""The webhook receipt store's contract, run against the in-memory store and PostgreSQL's.

One owner per `webhookId`; a persisted id is a duplicate for every later delivery; a live
claim is in flight for everyone else until it is confirmed, released by its owner, or its lease
runs out. Time is a fake clock: the in-memory store takes it as `clock=`, and PostgreSQL reads
it from a `now()` defined in the test's schema, ahead of pg_catalog's on the search_path.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from services.webhooks import Claim, PostgresReceiptStore, ReceiptStore
from tests.factories.clock import FakeClock
from tests.factories.receipts import InMemoryReceiptStore

pytestmark = pytest.mark.integration

LEASE = 30.0
# Run before each test: the module's schema is shared, each test starts from no receipt.
_FRESH_RECEIPTS_SQL = """
TRUNCATE webhook_receipts;
CREATE TABLE IF NOT EXISTS fake_clock (t double precision NOT NULL);
DELETE FROM fake_clock;
INSERT INTO fake_clock VALUES ({start});
CREATE OR REPLACE FUNCTION now() RETURNS timestamptz LANGUAGE sql STABLE
    AS 'SELECT to_timestamp(t) FROM fake_clock';
"""


@dataclass
class Receipts:
    store: ReceiptStore
    clock: FakeClock
    pool: asyncpg.Pool | None

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        if self.pool is not None:
            await self.pool.execute("UPDATE fake_clock SET t = $1", self.clock.now)

    async def position(self, webhook_id: str) -> tuple[int, int] | None:
        if self.pool is None:
            assert isinstance(self.store, InMemoryReceiptStore)
            return self.store.position(webhook_id)
        row = await self.pool.fetchrow(
            "SELECT raw_partition, raw_offset FROM webhook_receipts"
            " WHERE webhook_id = $1 AND state = 'persisted'",
            webhook_id,
        )
        return None if row is None else (row["raw_partition"], row["raw_offset"])


@pytest.fixture
async def receipts(backend: str | None, test_settings: Any) -> AsyncIterator[Receipts]:
    clock = FakeClock()
    if backend is None:
        yield Receipts(InMemoryReceiptStore(lease_seconds=LEASE, clock=clock), clock, None)
        return
    pool = await asyncpg.create_pool(
        test_settings.database_url,
        min_size=1,
        max_size=4,
        server_settings={"search_path": f'"{backend}", pg_catalog'},
    )
    try:
        await pool.execute(_FRESH_RECEIPTS_SQL.format(start=repr(clock.now)))
        yield Receipts(PostgresReceiptStore(pool, lease_seconds=LEASE), clock, pool)
    finally:
        await pool.close()


async def test_the_first_claim_owns_and_a_confirmed_id_is_a_duplicate(receipts: Receipts) -> None:
    store, mine = receipts.store, uuid.uuid4()
    assert await store.claim("wh-1", mine) is Claim.OWNED
    assert await store.claim("wh-1", uuid.uuid4()) is Claim.IN_FLIGHT
    await store.confirm("wh-1", mine, partition=2, offset=7)
    assert await store.claim("wh-1", uuid.uuid4()) is Claim.DUPLICATE
    assert await store.claim("wh-1", mine) is Claim.DUPLICATE
    assert await receipts.position("wh-1") == (2, 7)


async def test_a_released_claim_can_be_claimed_again(receipts: Receipts) -> None:
    store, mine = receipts.store, uuid.uuid4()
    assert await store.claim("wh-1", mine) is Claim.OWNED
    await store.release("wh-1", mine)
    assert await store.claim("wh-1", uuid.uuid4()) is Claim.OWNED


async def test_only_the_owner_confirms_or_releases(receipts: Receipts) -> None:
    store, mine, other = receipts.store, uuid.uuid4(), uuid.uuid4()
    assert await store.claim("wh-1", mine) is Claim.OWNED
    await store.confirm("wh-1", other, partition=0, offset=1)
    await store.release("wh-1", other)
    assert await store.claim("wh-1", uuid.uuid4()) is Claim.IN_FLIGHT
    assert await receipts.position("wh-1") is None


async def test_a_persisted_id_is_never_released(receipts: Receipts) -> None:
    store, mine = receipts.store, uuid.uuid4()
    assert await store.claim("wh-1", mine) is Claim.OWNED
    await store.confirm("wh-1", mine, partition=0, offset=3)
    await store.release("wh-1", mine)
    await receipts.advance(10 * LEASE)
    assert await store.claim("wh-1", uuid.uuid4()) is Claim.DUPLICATE


async def test_an_expired_claim_is_taken_over_and_the_old_owner_cannot_confirm(
    receipts: Receipts,
) -> None:
    store, crashed, retry = receipts.store, uuid.uuid4(), uuid.uuid4()
    assert await store.claim("wh-1", crashed) is Claim.OWNED
    await receipts.advance(LEASE - 1)
    assert await store.claim("wh-1", uuid.uuid4()) is Claim.IN_FLIGHT  # still leased
    await receipts.advance(2)
    assert await store.claim("wh-1", retry) is Claim.OWNED
    await store.confirm("wh-1", crashed, partition=0, offset=1)
    assert await receipts.position("wh-1") is None
    await store.confirm("wh-1", retry, partition=1, offset=9)
    assert await receipts.position("wh-1") == (1, 9)


async def test_concurrent_claims_of_one_id_have_one_owner(receipts: Receipts) -> None:
    ids = [f"wh-{n}" for n in range(20)] * 3  # every id claimed three times at once
    claims = await asyncio.gather(*(receipts.store.claim(i, uuid.uuid4()) for i in ids))
    owners = Counter(i for i, c in zip(ids, claims, strict=True) if c is Claim.OWNED)
    assert owners == Counter({f"wh-{n}": 1 for n in range(20)})
    assert set(claims) <= {Claim.OWNED, Claim.IN_FLIGHT}
