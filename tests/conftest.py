"""Fixtures that reach the real Kafka broker and PostgreSQL server.

They read `KAFKA_BOOTSTRAP_SERVERS` and `DATABASE_URL` (defaults: the local stack of
`ghl-sync stack up`). A missing server fails the test that needs it, with the command that
starts it: the suite never skips what it cannot reach.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.db.migrate import apply_migrations
from streams.settings import StreamsSettings
from tests.factories.streams import ensure_all_topics, streams_settings


class TestSettings(BaseSettings):
    """Where the tests find the servers."""

    __test__ = False  # not a test class, despite the name
    model_config = SettingsConfigDict(frozen=True)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = "postgresql://ghl_sync@127.0.0.1:25432/ghl_sync"


_HOW_TO_START = "start the local stack with `ghl-sync stack up` (or `make stack`)"


def _children() -> set[int]:
    """The live direct child processes of this test process (Linux /proc)."""
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] != "Z":
                found.add(int(entry))
    return found


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Iterator[None]:
    """A process a test started and left running (a failed wait skipped its cleanup) is
    killed when the test ends, so it cannot load the machine for the rest of the suite."""
    before = _children()
    yield
    for pid in _children() - before:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")[:200]
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
        print(f"\na test left process {pid} running ({command}): killed", file=sys.stderr)


@pytest.fixture(scope="session")
def test_settings() -> TestSettings:
    return TestSettings()


@pytest.fixture(scope="session")
def kafka_bootstrap(test_settings: TestSettings) -> str:
    return test_settings.kafka_bootstrap_servers


@pytest.fixture
async def kafka_admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10000)
    try:
        await admin.start()
    except Exception as exc:
        pytest.fail(f"Kafka is not reachable at {kafka_bootstrap}: {exc}; {_HOW_TO_START}")
    try:
        yield admin
    finally:
        await admin.close()


TopicFactory = Callable[..., Awaitable[str]]


@pytest.fixture
async def new_topic(kafka_admin: AIOKafkaAdminClient) -> AsyncIterator[TopicFactory]:
    """Creates topics with fresh names; deletes them after the test."""
    created: list[str] = []

    async def make(prefix: str = "test", partitions: int = 1) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        await kafka_admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        )
        created.append(name)
        return name

    yield make
    if created:
        await kafka_admin.delete_topics(created)


@pytest.fixture
async def worker_env(
    kafka_admin: AIOKafkaAdminClient, test_settings: TestSettings
) -> AsyncIterator[dict[str, str]]:
    """The `GHL_SYNC_STREAMS_*` variables of a `ghl-sync worker` child process: the broker and
    the database, an app id and topic prefix no other test uses, one partition a topic. The
    topics the worker created are deleted afterwards."""
    app_id = f"test-{uuid.uuid4().hex[:10]}"
    yield {
        "GHL_SYNC_STREAMS_APP_ID": app_id,
        "GHL_SYNC_STREAMS_TOPIC_PREFIX": f"{app_id}.",
        "GHL_SYNC_STREAMS_TOPIC_PARTITIONS": "1",
        "GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS": test_settings.kafka_bootstrap_servers,
        "GHL_SYNC_STREAMS_DATABASE_URL": test_settings.database_url,
    }
    created = [t for t in await kafka_admin.list_topics() if t.startswith(app_id)]
    if created:
        await kafka_admin.delete_topics(created)


@pytest.fixture
async def pg_schema(test_settings: TestSettings) -> AsyncIterator[str]:
    """A fresh schema with every migration applied; dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(test_settings.database_url, timeout=10)
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {test_settings.database_url}: {exc}; {_HOW_TO_START}"
        )
    try:
        await apply_migrations(conn, schema=name)
        yield name
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


@pytest.fixture
async def pg(test_settings: TestSettings, pg_schema: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection whose search_path is the test's fresh schema."""
    conn = await asyncpg.connect(
        test_settings.database_url, timeout=10, server_settings={"search_path": pg_schema}
    )
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def pg_module_schema(test_settings: TestSettings) -> Iterator[str]:
    """A schema with every migration applied, shared by one module's tests (migrating takes
    about a second; a suite that shares it empties the tables it uses before each test)."""
    name = f"test_{uuid.uuid4().hex[:12]}"

    async def connect() -> asyncpg.Connection:
        try:
            return await asyncpg.connect(test_settings.database_url, timeout=10)
        except Exception as exc:
            pytest.fail(
                f"PostgreSQL is not reachable at {test_settings.database_url}: {exc}; "
                f"{_HOW_TO_START}"
            )

    async def create() -> None:
        conn = await connect()
        try:
            await apply_migrations(conn, schema=name)
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await connect()
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(create())  # its own loop: each test runs in a loop of its own
    try:
        yield name
    finally:
        asyncio.run(drop())


@pytest.fixture(params=["memory", "postgres"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """Runs a backend contract suite twice: `None` for the in-memory implementation, then the
    name of the module's migrated schema (`pg_module_schema`) for the PostgreSQL one."""
    if request.param == "memory":
        return None
    schema: str = request.getfixturevalue("pg_module_schema")
    return schema


PoolFactory = Callable[[], Awaitable[asyncpg.Pool]]


@pytest.fixture
async def new_pool(test_settings: TestSettings, pg_schema: str) -> AsyncIterator[PoolFactory]:
    """Opens pools on the test's fresh schema, one per call, as separate processes would have
    them; closes them after the test."""
    pools: list[asyncpg.Pool] = []

    async def make() -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            test_settings.database_url,
            min_size=1,
            max_size=10,
            server_settings={"search_path": pg_schema},
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


StreamsFactory = Callable[..., Awaitable[StreamsSettings]]


@pytest.fixture
def new_streams(
    test_settings: TestSettings, pg_schema: str, kafka_bootstrap: str
) -> StreamsFactory:
    """Makes streams settings on the broker and the test's schema under a fresh topic prefix,
    their topics created: `await new_streams(partitions=6, batch_size=500)` (`partitions`
    defaults to the settings' `topic_partitions`; the rest are `StreamsSettings` fields)."""

    async def make(*, partitions: int | None = None, **fields: Any) -> StreamsSettings:
        settings = streams_settings(
            kafka_bootstrap, test_settings.database_url, pg_schema, **fields
        )
        await ensure_all_topics(settings, partitions)
        return settings

    return make
