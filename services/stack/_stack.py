"""The local stack as one unit: Kafka and PostgreSQL up, down and status together."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import asyncpg

from services.db.migrate import apply_migrations
from services.stack import _process
from services.stack.kafka import KafkaServer, KafkaStatus
from services.stack.postgres import PostgresServer, PostgresStatus
from services.stack.settings import StackSettings

__all__ = ["Stack", "StackStatus", "UpReport"]


@dataclass(frozen=True)
class UpReport:
    """What `up` did and how long each part took."""

    kafka_started: bool
    kafka_downloaded: bool
    postgres_started: bool
    migrations_applied: list[str]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StackStatus:
    """Both servers' status."""

    kafka: KafkaStatus
    postgres: PostgresStatus

    @property
    def healthy(self) -> bool:
        """Whether both servers serve clients."""
        return self.kafka.healthy and self.postgres.healthy


class Stack:
    """Kafka and PostgreSQL of the local stack."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.kafka = KafkaServer(settings)
        self.postgres = PostgresServer(settings)

    def up(self) -> UpReport:
        """Start what is not running, wait until both serve, apply migrations; idempotent.

        Every port is checked before anything starts: a port in the kernel's ephemeral range
        is refused (`EphemeralPort`) with the reason, whichever server it belongs to."""
        s = self.settings
        for what, variable, port, suggestion in (
            ("PostgreSQL", "GHL_SYNC_STACK_POSTGRES_PORT", s.postgres_port, 25432),
            ("Kafka", "GHL_SYNC_STACK_KAFKA_PORT", s.kafka_port, 9092),
            ("Kafka", "GHL_SYNC_STACK_KAFKA_CONTROLLER_PORT", s.kafka_controller_port, 9093),
        ):
            if what == "Kafka" and self.kafka.running_pid() is not None:
                continue  # already serving there; nothing is started
            if what == "PostgreSQL" and self.postgres.running_pid() is not None:
                continue
            _process.refuse_ephemeral(what, variable, port, suggestion)
        self.settings.root.mkdir(parents=True, exist_ok=True)
        seconds: dict[str, float] = {}
        t0 = time.monotonic()
        downloaded = self.kafka.fetch_jars()
        seconds["kafka jars"] = time.monotonic() - t0
        t1 = time.monotonic()
        postgres_started = self.postgres.start()
        seconds["postgres"] = time.monotonic() - t1
        t2 = time.monotonic()
        kafka_started = self.kafka.start()
        seconds["kafka"] = time.monotonic() - t2
        t3 = time.monotonic()
        applied = asyncio.run(_migrate(self.settings.database_url))
        seconds["migrations"] = time.monotonic() - t3
        seconds["total"] = time.monotonic() - t0
        return UpReport(
            kafka_started=kafka_started,
            kafka_downloaded=downloaded,
            postgres_started=postgres_started,
            migrations_applied=applied,
            seconds=seconds,
        )

    def down(self) -> tuple[bool, bool]:
        """Stop what `up` started; returns (kafka stopped, postgres stopped)."""
        return self.kafka.stop(), self.postgres.stop()

    def status(self) -> StackStatus:
        """Versions, ports, pids, memory and health."""
        return StackStatus(kafka=self.kafka.status(), postgres=self.postgres.status())


async def _migrate(url: str) -> list[str]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()
