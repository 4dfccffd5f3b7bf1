"""The local stack: a real Kafka broker and PostgreSQL server without Docker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from services.stack._stack import Stack, StackStatus, UpReport
    from services.stack.exceptions import (
        EphemeralPort,
        MissingDependency,
        MovedPort,
        PortBusy,
        StackError,
        StartFailed,
    )
    from services.stack.kafka import KafkaServer, KafkaStatus
    from services.stack.postgres import PostgresServer, PostgresStatus
    from services.stack.settings import StackSettings

__all__ = [
    "EphemeralPort",
    "KafkaServer",
    "KafkaStatus",
    "MissingDependency",
    "MovedPort",
    "PortBusy",
    "PostgresServer",
    "PostgresStatus",
    "Stack",
    "StackError",
    "StackSettings",
    "StackStatus",
    "StartFailed",
    "UpReport",
]

__getattr__, __dir__ = lazy_exports(__name__)
