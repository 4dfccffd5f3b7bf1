"""The local stack: status tells the truth, `up` is idempotent, failures show the log."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

import asyncpg
import pytest

from bench.outage import free_port
from services.stack import EphemeralPort, MovedPort, Stack, StackSettings, StartFailed
from services.stack._process import ephemeral_range
from services.stack.kafka import KafkaServer
from services.stack.postgres import PostgresServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack() -> Stack:
    # The suite runs against the stack `make test` brought up from the repository root.
    return Stack(StackSettings(state_dir=ROOT / ".stack"))


def test_status_reports_the_running_servers(stack: Stack) -> None:
    status = stack.status()
    assert status.healthy, status
    kafka_pid = int((ROOT / ".stack/kafka/broker.pid").read_text())
    assert status.kafka.pid == kafka_pid
    assert "kafka.Kafka" in Path(f"/proc/{kafka_pid}/cmdline").read_text()
    assert status.kafka.version == "4.4.0"
    assert status.kafka.rss_bytes is not None
    assert status.kafka.rss_bytes > 50 * 2**20
    postmaster = (ROOT / ".stack/postgres/data/postmaster.pid").read_text().split()[0]
    assert status.postgres.pid == int(postmaster)
    assert status.postgres.version.startswith("15.")
    assert status.postgres.rss_bytes is not None
    assert status.postgres.rss_bytes > 0


def test_up_twice_is_harmless(stack: Stack) -> None:
    before = stack.status()
    report = stack.up()
    after = stack.status()
    assert (report.kafka_started, report.postgres_started) == (False, False)
    assert report.migrations_applied == []
    assert (after.kafka.pid, after.postgres.pid) == (before.kafka.pid, before.postgres.pid)
    assert after.healthy


def test_down_stops_only_what_its_own_up_started(stack: Stack, tmp_path: Path) -> None:
    other = Stack(
        StackSettings(
            state_dir=tmp_path, kafka_port=19092, kafka_controller_port=19093, postgres_port=25439
        )
    )
    assert other.down() == (False, False)
    assert stack.status().healthy


def test_a_broker_that_cannot_start_fails_with_its_log(stack: Stack, tmp_path: Path) -> None:
    settings = StackSettings(
        state_dir=tmp_path,
        kafka_port=19092,
        kafka_controller_port=19093,
        kafka_heap="-Xms1m -Xmx1m",
        kafka_start_timeout=30,
    )
    broken = KafkaServer(settings)
    # Reuse the cached jars instead of resolving them again.
    broken.libs.parent.mkdir(parents=True)
    broken.libs.symlink_to(stack.kafka.libs)
    with pytest.raises(StartFailed) as failure:
        broken.start()
    assert "the broker exited" in failure.value.reason
    assert "heap" in failure.value.log_tail.lower()
    assert broken.running_pid() is None


def test_default_ports_lie_outside_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    fields = StackSettings.model_fields  # the declared defaults, whatever the environment says
    for name in ("kafka_port", "kafka_controller_port", "postgres_port"):
        assert not low <= fields[name].default <= high, (name, fields[name].default)


def test_servers_refuse_an_ephemeral_port_and_say_why(tmp_path: Path) -> None:
    low, high = ephemeral_range()
    inside = (low + high) // 2
    kafka = KafkaServer(StackSettings(state_dir=tmp_path / "k", kafka_port=inside))
    with pytest.raises(EphemeralPort) as refused:
        kafka.start()
    message = str(refused.value)
    assert f"port {inside} (GHL_SYNC_STACK_KAFKA_PORT)" in message
    assert f"ephemeral port range {low}-{high}" in message
    assert "source port" in message
    postgres = PostgresServer(StackSettings(state_dir=tmp_path / "p", postgres_port=inside))
    with pytest.raises(EphemeralPort, match="GHL_SYNC_STACK_POSTGRES_PORT=25432"):
        postgres.start()
    assert not (tmp_path / "k" / "kafka" / "data").exists()
    assert not (tmp_path / "p" / "postgres" / "data").exists()
    # `up` checks every port before it starts anything: no PostgreSQL left running here.
    stack = Stack(StackSettings(state_dir=tmp_path / "s", kafka_port=inside, postgres_port=25498))
    with pytest.raises(EphemeralPort, match="GHL_SYNC_STACK_KAFKA_PORT"):
        stack.up()
    assert not (tmp_path / "s").exists()


async def test_a_cluster_keeps_its_data_when_its_port_changes() -> None:
    # A folder the `postgres` account can reach when the suite runs as root.
    folder = Path(tempfile.mkdtemp(prefix="ghl-sync-port-", dir="/tmp"))
    os.chmod(folder, 0o755)
    first_settings = StackSettings(state_dir=folder, postgres_port=free_port())
    first = PostgresServer(first_settings)
    second_settings = StackSettings(state_dir=folder, postgres_port=free_port())
    second = PostgresServer(second_settings)
    try:
        await asyncio.to_thread(first.start)
        conn = await asyncpg.connect(first_settings.database_url)
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')")
        await conn.close()
        with pytest.raises(MovedPort, match="`ghl-sync stack down` and `ghl-sync stack up`"):
            await asyncio.to_thread(second.start)
        await asyncio.to_thread(first.stop)
        assert await asyncio.to_thread(second.start)
        conn = await asyncpg.connect(second_settings.database_url)
        assert await conn.fetchval("SELECT v FROM kept") == "before"
        await conn.close()
    finally:
        await asyncio.to_thread(second.stop)
        shutil.rmtree(folder, ignore_errors=True)
