"""Factories for tests and benchmarks, one module per kind of thing they make.

- `events`: synthetic GHL histories as canonical events, redelivered as an at-least-once source
  would, and producing them to Kafka;
- `clock`: `FakeClock`, the clock a test moves;
- `ghl`: the GHL client on the simulator in process, with tokens minted through its admin API;
- `streams`: streams settings on a fresh topic prefix and the test's schema, their topics; whether
  the projections caught up and hold exactly what the events say;
- `poller`: what a poller or a backfill works through: a pool and a started events sink, and
  `polling(...)`, the same with the consumers a test polls against running beside it;
- `tasks`: `running(...)`, coroutines run as tasks and cancelled when the test is done;
- `waiting`: `eventually(check, within=...)`, asking again until something no event announces holds;
- `api`: the command API in process and a keyed HTTP client of it;
- `processes`: `ghl-sync` as a child process (its path, a clean environment, a free port);
- `writeback`: the write-back world (simulator, PostgreSQL, Kafka, writer) and command helpers;
- `receipts`: `InMemoryReceiptStore`, the webhook receipt store's in-memory implementation;
- `status`: a location's token and request budget as the status reads them from the database.

`from tests.factories import ...` keeps working for the event factories.
"""

from __future__ import annotations

from tests.factories.clock import FakeClock
from tests.factories.events import (
    T0,
    Observed,
    Redelivery,
    contact_history,
    encoded,
    event_stream,
    histories,
    history,
    produce,
    redelivered,
    redeliveries,
)

__all__ = [
    "T0",
    "FakeClock",
    "Observed",
    "Redelivery",
    "contact_history",
    "encoded",
    "event_stream",
    "histories",
    "history",
    "produce",
    "redelivered",
    "redeliveries",
]
