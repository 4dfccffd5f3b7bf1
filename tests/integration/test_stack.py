"""The local stack: status tells the truth, `up` is idempotent, failures show the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.stack import Stack, StackSettings, StartFailed
from services.stack.kafka import KafkaServer

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
            state_dir=tmp_path, kafka_port=19092, kafka_controller_port=19093, postgres_port=55439
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
