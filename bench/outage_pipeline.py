"""Outage benchmark, second half: the poller and the worker (normalize, projections, history)
through a broker outage and a PostgreSQL outage, each as a real process (`ghl-sync poller`,
`worker`, with the GHL simulator). `bench/outage.py` does the same for the receiver, the API
and the writer, and holds the private broker and PostgreSQL used here.

While the dependency is away, GHL changes (contacts created in the simulator: only the poller
can find them). For each service it reports:

- `down_seen`: seconds from the outage's start to the first `/readyz` 503 naming it;
- `ready_after`: seconds from the dependency serving again to `/readyz` 200;
- `work_after`: seconds from the dependency serving again to the service's own work:
  `poller`, the first event of a contact created during the outage on `ghl.events`;
  `normalize`, the event of a webhook delivered (on `ghl.raw`) once the dependency is back;
  `projections`, every contact created during the outage in the `contacts` table and the
  stored offsets of projections and history at the end of the events topic;
- `log_lines`: lines the service logged from the outage's start until all were caught up;
- `exits`: whether it exited (it must not).

    .venv/bin/python bench/outage_pipeline.py                      # 60 s broker, 30 s PG
    .venv/bin/python bench/outage_pipeline.py --broker-seconds 20 --postgres-seconds 0

`tests/integration/test_outage_kafka_pipeline.py` runs the broker half with a short outage.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.outage import (
    _KEY,
    OutageReport,
    Service,
    Wired,
    _wait_status,
    free_port,
    outage_main,
    under_outage,
)
from schemas import Event, EventDecodeError, decode_event
from schemas.raw import RawDelivery
from services.platform.outage import kafka_client_options, quiet_kafka_logs, stop_quietly
from streams.projections import diff_tables, dump_tables, reference_tables, rows_from_images

PARTITIONS = 3
SERVICES = ("poller", "worker")


@dataclass
class Seen:
    """An event read back from `ghl.events`."""

    at: float
    source: str
    entity_id: str
    value: bytes


@dataclass
class Pipeline(Wired):
    """The simulator, the poller and the worker, wired to one broker and database."""

    seen: list[Seen] = field(default_factory=list)

    @property
    def events_topic(self) -> str:
        return f"{self.prefix}ghl.events.v1"

    @property
    def raw_topic(self) -> str:
        return f"{self.prefix}ghl.raw.v1"

    async def start(self) -> None:
        token = await self._start_simulator(seed=7)
        ports = {name: free_port() for name in SERVICES}
        env = {
            **os.environ,
            "GHL_SYNC_LOG_LEVEL": "INFO",
            "GHL_SYNC_GHL_BASE_URL": self.sim_url,
            "GHL_SYNC_GHL_PRIVATE_INTEGRATION_TOKEN": token,
            "GHL_SYNC_POLLER_LOCATIONS": json.dumps([self.location]),
            "GHL_SYNC_POLLER_CYCLE_SECONDS": "1",
            "GHL_SYNC_POLLER_LEASE_SECONDS": "6",
            "GHL_SYNC_POLLER_FLUSH_SECONDS": "1",
            "GHL_SYNC_STREAMS_APP_ID": self.prefix.rstrip("."),
            "GHL_SYNC_STREAMS_PROCESSORS": json.dumps(["normalize", "projections", "history"]),
            "GHL_SYNC_STREAMS_METRICS_PORT": str(ports["worker"]),
        }
        for p in ("POLLER", "STREAMS"):
            env[f"GHL_SYNC_{p}_KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap
            env[f"GHL_SYNC_{p}_DATABASE_URL"] = self.database_url
            env[f"GHL_SYNC_{p}_DATABASE_SCHEMA"] = self.schema
            env[f"GHL_SYNC_{p}_TOPIC_PREFIX"] = self.prefix
            env[f"GHL_SYNC_{p}_TOPIC_PARTITIONS"] = str(PARTITIONS)
        self.services["poller"] = Service(
            "poller", ["poller", "--metrics-port", str(ports["poller"])], env,
            self.folder / "poller.log", f"http://127.0.0.1:{ports['poller']}/readyz",
        )  # fmt: skip
        self.services["worker"] = Service(
            "worker", ["worker"], env, self.folder / "worker.log",
            f"http://127.0.0.1:{ports['worker']}/readyz",
        )  # fmt: skip
        for service in self.services.values():
            service.start()
        for service in self.services.values():
            await _wait_status(service, 200, within=90)

    async def create_contacts(self, count: int) -> list[str]:
        """New contacts in GHL (no webhook: only the poller can find them)."""
        async with httpx.AsyncClient(base_url=self.sim_url, timeout=10) as http:
            before = set(await self._contact_ids(http))
            created = await http.post(
                f"/_admin/locations/{self.location}/contacts", json={"count": count}
            )
            created.raise_for_status()
            return sorted(set(await self._contact_ids(http)) - before)

    async def _contact_ids(self, http: httpx.AsyncClient) -> list[str]:
        state = (await http.get("/_admin/state")).json()
        return [c["id"] for c in state["locations"][self.location]["contacts"]]

    async def deliver_webhook(self, contact: str) -> str:
        """A signed ContactTagUpdate on `ghl.raw`, as the receiver writes it; its webhook id."""
        webhook_id = str(uuid.uuid4())
        data = {
            "type": "ContactTagUpdate", "locationId": self.location, "id": contact,
            "tags": ["outage"], "webhookId": webhook_id,
            "timestamp": datetime.now(UTC).isoformat(),
        }  # fmt: skip
        body = json.dumps(data, separators=(",", ":")).encode()
        delivery = RawDelivery(
            body=body, received_at=datetime.now(UTC), webhook_id=webhook_id,
            key=f"{self.location}:{contact}", signature_scheme="ed25519",
            signature=base64.b64encode(_KEY.sign(body)).decode(),
        )  # fmt: skip
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", **kafka_client_options()
        )
        await producer.start()
        try:
            await producer.send_and_wait(
                self.raw_topic, value=delivery.body, key=delivery.key.encode(),
                headers=delivery.headers(), timestamp_ms=delivery.timestamp_ms,
            )  # fmt: skip
        finally:
            await stop_quietly(producer, 10)
        return webhook_id

    async def read_events(self, stop: asyncio.Event) -> None:
        """Note every event on `ghl.events` (when it was read, its source and entity)."""
        consumer = AIOKafkaConsumer(
            self.events_topic, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest",
            group_id=f"outage-reader-{uuid.uuid4().hex[:8]}", **kafka_client_options(),
        )  # fmt: skip
        while not stop.is_set():
            try:
                await consumer.start()
                break
            except Exception:  # the broker may be the one away; try again
                await asyncio.sleep(1)
        try:
            while not stop.is_set():
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    now = time.monotonic()
                    for record in batch:
                        event = json.loads(record.value or b"{}")
                        self.seen.append(
                            Seen(now, str(event.get("source")), str(event.get("entity_id")),
                                 record.value or b"")
                        )  # fmt: skip
        finally:
            await stop_quietly(consumer, 10)

    async def events_end(self) -> int:
        """The events topic's end, summed over its partitions."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, **kafka_client_options())
        await consumer.start()
        try:
            parts = [TopicPartition(self.events_topic, p) for p in range(PARTITIONS)]
            return sum((await consumer.end_offsets(parts)).values())
        finally:
            await stop_quietly(consumer, 10)

    async def query(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(
            self.database_url, timeout=5, server_settings={"search_path": self.schema}
        )
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def caught_up(self, contacts: list[str]) -> bool:
        """`contacts` projected, and both sinks' stored offsets at the topic's end."""
        found = await self.query("SELECT count(*) FROM contacts WHERE id = ANY($1::text[])",
                                 contacts)  # fmt: skip
        if found < len(contacts):
            return False
        end = await self.events_end()
        projected = await self.query("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")
        history = await self.query("SELECT coalesce(sum(next_offset), 0) FROM history_offsets")
        return bool(projected >= end and history >= end)

    async def table_differences(self) -> list[str]:
        """The projection tables against a reference model of every event read back (once
        the reader has read the whole topic)."""
        end = await self.events_end()
        if await until(lambda: _true(len(self.seen) >= end), within=30) is None:
            return [f"read back {len(self.seen)} of {end} events"]
        decoded = [decode_event(s.value) for s in self.seen]
        events: list[Event] = [e for e in decoded if not isinstance(e, EventDecodeError)]
        expected = rows_from_images(reference_tables(events).values())
        conn = await asyncpg.connect(
            self.database_url, timeout=5, server_settings={"search_path": self.schema}
        )
        try:
            return diff_tables(await dump_tables(conn), expected, left_name="projected",
                               right_name="reference")  # fmt: skip
        finally:
            await conn.close()

    def stop(self) -> None:
        for service in [*self.services.values(), *([self.sim] if self.sim else [])]:
            service.stop()


async def _true(value: bool) -> bool:
    return value


async def until(check: Callable[[], Awaitable[bool]], *, within: float) -> float | None:
    """Poll `check` until it is true (returns when, monotonic) or `within` seconds passed."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the dependency may still be coming back
            if await check():
                return time.monotonic()
        await asyncio.sleep(0.25)
    return None


@dataclass
class PipelineReport(OutageReport):
    """What one outage did to the poller and the worker, and to what they produce."""

    readyz_during: dict[str, Any]
    created: list[str]
    webhook_seen: bool
    table_differences: list[str]
    """The projections against a reference model of every event (empty: exact)."""


async def run_pipeline_outage(
    pipe: Pipeline,
    *,
    dependency: str,
    seconds: float,
    stop: Callable[[], Awaitable[None]],
    start: Callable[[], Awaitable[None]],
) -> PipelineReport:
    """Take `dependency` away for `seconds` (via `stop`/`start`) while GHL changes."""
    quiet_kafka_logs()  # this process's own clients: the events reader, the webhook producer
    halt = asyncio.Event()
    reader = asyncio.create_task(pipe.read_events(halt))
    try:
        baseline = await until(lambda: pipe.caught_up(pipe.contacts), within=90)
        if baseline is None:
            raise RuntimeError("the backfill did not reach the projections")
        before = {name: len(s.lines()) for name, s in pipe.services.items()}
        went = time.monotonic()
        await stop()
        created = await pipe.create_contacts(3)
        down_seen: dict[str, float] = {}
        readyz_during: dict[str, Any] = {}
        async with httpx.AsyncClient(timeout=2) as http:

            async def notice(name: str, service: Service) -> None:
                async def unready() -> bool:
                    response = await http.get(service.ready_url)
                    body = response.json()
                    if response.status_code == 503 and dependency in body.get("failing", ()):
                        readyz_during[name] = body
                        return True
                    return False

                at = await until(unready, within=max(seconds - 1, 1))
                if at is not None:
                    down_seen[name] = at - went

            await asyncio.gather(*(notice(n, s) for n, s in pipe.services.items()))
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - went)))
        await start()
        back = time.monotonic()
        names = list(pipe.services)
        readies = await asyncio.gather(
            *(_wait_status(pipe.services[n], 200, within=120) for n in names)
        )
        ready_after = {name: at - back for name, at in zip(names, readies, strict=True)}
        webhook_contact = pipe.contacts[0]
        sent_at = len(pipe.seen)
        await pipe.deliver_webhook(webhook_contact)
        work_after: dict[str, float] = {}

        async def polled() -> bool:
            return any(s.entity_id in created for s in pipe.seen)

        async def normalized() -> bool:
            return any(s.source == "webhook" for s in pipe.seen[sent_at:])

        async def projected() -> bool:
            return await pipe.caught_up(created)

        for name, check in (("poller", polled), ("normalize", normalized),
                            ("projections", projected)):  # fmt: skip
            at = await until(check, within=90)
            if at is not None:
                work_after[name] = at - back
        # The reader noted when each event arrived: more exact than the polling checks.
        firsts = {
            "poller": [s.at for s in pipe.seen if s.entity_id in created],
            "normalize": [s.at for s in pipe.seen[sent_at:] if s.source == "webhook"],
        }
        for name, ats in firsts.items():
            if ats and name in work_after:
                work_after[name] = min(work_after[name], min(ats) - back)
        differences = await pipe.table_differences()
        log_lines = {name: s.lines()[before[name] :] for name, s in pipe.services.items()}
        return PipelineReport(
            dependency=dependency, seconds=seconds, down_seen=down_seen,
            ready_after=ready_after, work_after=work_after, log_lines=log_lines,
            exited={n: s.exited for n, s in pipe.services.items()},
            readyz_during=readyz_during, created=created,
            webhook_seen="normalize" in work_after, table_differences=differences,
        )  # fmt: skip
    finally:
        halt.set()
        await asyncio.gather(reader, return_exceptions=True)


async def pipeline_broker_outage(folder: Path, seconds: float) -> PipelineReport:
    """A private broker goes away for `seconds`; the pipeline uses the shared PostgreSQL."""
    return await under_outage(folder, "kafka", seconds, Pipeline, run_pipeline_outage)


async def pipeline_postgres_outage(folder: Path, seconds: float) -> PipelineReport:
    """A private PostgreSQL goes away for `seconds`; the pipeline uses the shared broker."""
    return await under_outage(folder, "postgres", seconds, Pipeline, run_pipeline_outage)


def print_report(report: PipelineReport) -> None:
    print(f"\n{report.dependency} away {report.seconds:.0f} s (poller, worker)")
    print(f"{'service':<10} {'503 seen':>9} {'ready after':>12} {'log lines':>10} {'exited':>7}")
    for name in report.ready_after:
        seen = report.down_seen.get(name)
        print(
            f"{name:<10} {'-' if seen is None else f'{seen:.1f} s':>9} "
            f"{report.ready_after[name]:>10.1f} s {len(report.log_lines[name]):>10} "
            f"{report.exited[name]!s:>7}"
        )
    for name in ("poller", "normalize", "projections"):
        work = report.work_after.get(name)
        print(f"work after: {name:<12} {'-' if work is None else f'{work:.1f} s'}")
    print("projections against the reference:",
          "exact" if not report.table_differences else report.table_differences[:5])  # fmt: skip
    for name, lines in report.log_lines.items():
        for line in lines:
            print(f"  {name}: {line[:160]}")


if __name__ == "__main__":
    outage_main(
        __doc__,
        "ghl-sync-outage-pipeline-",
        {"broker": pipeline_broker_outage, "postgres": pipeline_postgres_outage},
        print_report,
        before=quiet_kafka_logs,
    )
