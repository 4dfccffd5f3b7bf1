"""The token store's contract, run against every `TokenStore`: in memory, and the PostgreSQL
stores of location and of Company tokens.

A store keeps one OAuth pair per key and round-trips it exactly; `locked` serialises a key's
refreshes: `current` is the pair as the lock found it, `replace` commits on a clean exit only,
and a second holder waits, then sees the first one's pair; other keys never wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from services.ghl._crypto import TokenCipher, generate_key
from services.ghl._tokens_pg import PostgresTokenStore
from services.ghl.tokens import InMemoryTokenStore, StoredToken, TokenStore

pytestmark = pytest.mark.integration

EXPIRES = datetime(2026, 6, 1, 12, 30, 15, 250_000, tzinfo=UTC)
KINDS = ["memory", "postgres", "postgres-companies"]


def _pair(key: str = "key-1", n: int = 0) -> StoredToken:
    # company_id = key: the Company store keys its rows by company id and reads it back so.
    return StoredToken(
        location_id=key,
        access_token=SecretStr(f"access-{key}-{n}"),
        refresh_token=SecretStr(f"refresh-{key}-{n}"),
        expires_at=EXPIRES + timedelta(hours=n),
        scope="contacts.readonly contacts.write",
        company_id=key,
        user_type="Location",
    )


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The implementation, and for PostgreSQL the module's migrated schema."""
    schema = None if request.param == "memory" else request.getfixturevalue("pg_module_schema")
    return request.param, schema


@pytest.fixture
async def store(kind: tuple[str, str | None], test_settings: Any) -> AsyncIterator[TokenStore]:
    name, schema = kind
    if schema is None:
        yield InMemoryTokenStore()
        return
    pool = await asyncpg.create_pool(
        test_settings.database_url, min_size=1, max_size=4, server_settings={"search_path": schema}
    )
    cipher = TokenCipher(SecretStr(generate_key()))
    try:
        await pool.execute("TRUNCATE ghl_tokens, ghl_company_tokens")
        if name == "postgres-companies":
            yield PostgresTokenStore.companies(pool, cipher)
        else:
            yield PostgresTokenStore(pool, cipher)
    finally:
        await pool.close()


async def test_an_unknown_key_has_no_pair(store: TokenStore) -> None:
    assert await store.load("nobody") is None


async def test_a_saved_pair_round_trips_and_a_save_overwrites(store: TokenStore) -> None:
    await store.save(_pair())
    assert await store.load("key-1") == _pair()
    await store.save(_pair(n=1))
    assert await store.load("key-1") == _pair(n=1)
    without_refresh = StoredToken(
        location_id="key-2",
        access_token=SecretStr("only-access"),
        refresh_token=None,
        expires_at=EXPIRES,
        company_id="key-2",
    )
    await store.save(without_refresh)
    assert await store.load("key-2") == without_refresh
    assert await store.load("key-1") == _pair(n=1)


async def test_the_lock_reads_the_pair_and_replace_commits_on_a_clean_exit(
    store: TokenStore,
) -> None:
    async with store.locked("key-1") as slot:
        assert slot.current is None  # the first token of a key is serialised too
        await slot.replace(_pair())
    assert await store.load("key-1") == _pair()
    async with store.locked("key-1") as slot:
        assert slot.current == _pair()
        await slot.replace(_pair(n=1))
    assert await store.load("key-1") == _pair(n=1)


async def test_a_failure_inside_the_lock_commits_nothing(store: TokenStore) -> None:
    await store.save(_pair())

    async def refresh_that_fails() -> None:
        async with store.locked("key-1") as slot:
            await slot.replace(_pair(n=1))
            raise RuntimeError("refresh failed")

    with pytest.raises(RuntimeError, match="refresh failed"):
        await refresh_that_fails()
    assert await store.load("key-1") == _pair()


async def test_holders_of_one_key_take_turns_and_see_each_others_pair(
    store: TokenStore,
) -> None:
    await store.save(_pair())
    inside = asyncio.Event()
    seen: list[StoredToken | None] = []

    async def first() -> None:
        async with store.locked("key-1") as slot:
            inside.set()
            await asyncio.sleep(0.2)  # a refresh in progress; the second holder must wait
            await slot.replace(_pair(n=1))

    async def second() -> None:
        await inside.wait()
        async with store.locked("key-1") as slot:
            seen.append(slot.current)

    await asyncio.wait_for(asyncio.gather(first(), second()), timeout=30)
    assert seen == [_pair(n=1)]


async def test_another_key_does_not_wait_for_a_held_lock(store: TokenStore) -> None:
    release = asyncio.Event()
    inside = asyncio.Event()

    async def hold() -> None:
        async with store.locked("key-1"):
            inside.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await inside.wait()
    async with asyncio.timeout(30):  # would hang if key-2 waited for key-1's lock
        async with store.locked("key-2") as slot:
            await slot.replace(_pair("key-2"))
    release.set()
    await holder
    assert await store.load("key-2") == _pair("key-2")


async def test_delete_forgets_one_pair_and_says_whether_there_was_one(store: TokenStore) -> None:
    await store.save(_pair())
    await store.save(_pair("key-2"))
    assert await store.delete("key-1") is True
    assert await store.load("key-1") is None
    assert await store.delete("key-1") is False  # an UNINSTALL seen twice
    assert await store.load("key-2") == _pair("key-2")
