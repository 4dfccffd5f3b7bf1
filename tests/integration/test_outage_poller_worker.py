"""A 10 s PostgreSQL outage under the poller and the worker, each a real process (the
machinery of `bench/outage.py`: a private PostgreSQL on a port outside the ephemeral range,
the shared broker, fresh topics).

Both must stay up, log one line when PostgreSQL goes and one when it is back (no traceback),
and resume: the poller answers `/readyz` 503 naming PostgreSQL meanwhile and polls again
afterwards (contacts created in GHL during the outage reach the projections); the worker's
sinks wait out the events that arrive during the outage and their stored offsets reach the
end of the topic.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.outage import (
    SHARED_KAFKA,
    PrivatePostgres,
    Service,
    _wait_status,
    free_port,
    fresh_schema,
)
from services.platform.outage import stop_quietly
from tests.factories.streams import end_offsets
from tests.factories.waiting import eventually

pytestmark = pytest.mark.integration

# Two lines per outage per sink (gone, back: the poller has one Dependency, the worker one per
# sink) and a little room: the batch consumers' "sink backpressure" and the poller's "lease
# expired unrenewed". Before the policy the poller exited with a traceback.
MAX_LINES = 8
OUTAGE_SECONDS = 10
PARTITIONS = 3
_until = functools.partial(
    eventually, every=0.5, tolerating=(OSError, asyncpg.PostgresError, httpx.HTTPError)
)
"""`eventually`, where a check may fail while PostgreSQL is away or starting again."""


async def _count(url: str, schema: str, sql: str) -> int:
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        return int(await conn.fetchval(sql) or 0)
    finally:
        await conn.close()


async def _records(topic: str, count: int) -> list[tuple[bytes | None, bytes | None]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=SHARED_KAFKA, auto_offset_reset="earliest",
        group_id=f"outage-copy-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    await consumer.start()
    try:
        out: list[tuple[bytes | None, bytes | None]] = []
        while len(out) < count:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                out += [(r.key, r.value) for r in batch]
        return out
    finally:
        await stop_quietly(consumer, 10)


async def test_poller_and_worker_survive_a_postgres_outage_log_twice_and_resume(
    tmp_path: Path,
) -> None:
    pg = PrivatePostgres()
    services: list[Service] = []
    try:
        await pg.start()
        async with fresh_schema(pg.url) as schema:
            prefix = f"outage-{uuid.uuid4().hex[:8]}."
            topic = f"{prefix}ghl.events.v1"
            sim_port = free_port()
            sim_url = f"http://127.0.0.1:{sim_port}"
            sim = Service(
                "simulator",
                ["simulator", "--port", str(sim_port), "--seed", "7", "--locations", "1",
                 "--contacts", "5"],
                {**os.environ}, tmp_path / "simulator.log", f"{sim_url}/_admin/state",
            )  # fmt: skip
            services.append(sim)
            sim.start()
            await _wait_status(sim, 200, within=60)
            async with httpx.AsyncClient(base_url=sim_url, timeout=10) as http:
                state = (await http.get("/_admin/state")).json()
                location = next(iter(state["locations"]))
                grant = (await http.post("/_admin/tokens", json={"locationId": location})).json()
            ports = {"poller": free_port(), "worker": free_port()}
            env = {
                **os.environ,
                "GHL_SYNC_LOG_LEVEL": "INFO",
                "GHL_SYNC_GHL_BASE_URL": sim_url,
                "GHL_SYNC_GHL_PRIVATE_INTEGRATION_TOKEN": grant["access_token"],
                "GHL_SYNC_POLLER_LOCATIONS": json.dumps([location]),
                "GHL_SYNC_POLLER_CYCLE_SECONDS": "1",
                "GHL_SYNC_POLLER_LEASE_SECONDS": "6",
                "GHL_SYNC_POLLER_FLUSH_SECONDS": "1",
                "GHL_SYNC_STREAMS_APP_ID": prefix.rstrip("."),
                "GHL_SYNC_STREAMS_PROCESSORS": json.dumps(["projections", "history"]),
                "GHL_SYNC_STREAMS_METRICS_PORT": str(ports["worker"]),
            }
            for p in ("POLLER", "STREAMS"):
                env[f"GHL_SYNC_{p}_KAFKA_BOOTSTRAP_SERVERS"] = SHARED_KAFKA
                env[f"GHL_SYNC_{p}_DATABASE_URL"] = pg.url
                env[f"GHL_SYNC_{p}_DATABASE_SCHEMA"] = schema
                env[f"GHL_SYNC_{p}_TOPIC_PREFIX"] = prefix
                env[f"GHL_SYNC_{p}_TOPIC_PARTITIONS"] = str(PARTITIONS)
            poller = Service(
                "poller", ["poller", "--metrics-port", str(ports["poller"])], env,
                tmp_path / "poller.log", f"http://127.0.0.1:{ports['poller']}/readyz",
            )  # fmt: skip
            worker = Service(
                "worker", ["worker"], env, tmp_path / "worker.log",
                f"http://127.0.0.1:{ports['worker']}/readyz",
            )  # fmt: skip
            services += [poller, worker]
            poller.start()
            worker.start()
            for service in (poller, worker):
                await _wait_status(service, 200, within=90)

            async def contacts(n: int) -> bool:
                return await _count(pg.url, schema, "SELECT count(*) FROM contacts") >= n

            assert await _until(lambda: contacts(5), within=60), "the backfill was not projected"
            before = {s.name: len(s.lines()) for s in (poller, worker)}
            copies = await _records(topic, await end_offsets(SHARED_KAFKA, topic, PARTITIONS))
            assert copies, "the backfill produced no events"

            await pg.stop()
            # Events arrive while PostgreSQL is away (copies: the sinks skip them as seen),
            # and GHL changes meanwhile (only the poller can find that out, afterwards).
            producer = AIOKafkaProducer(bootstrap_servers=SHARED_KAFKA)
            await producer.start()
            try:
                for key, value in copies:
                    await producer.send(topic, value=value, key=key)
                await producer.flush()
            finally:
                await producer.stop()
            async with httpx.AsyncClient(base_url=sim_url, timeout=10) as http:
                created = await http.post(f"/_admin/locations/{location}/contacts",
                                          json={"count": 3})  # fmt: skip
                assert created.status_code == 200, created.text
            readyz: dict[str, object] = {}
            async with httpx.AsyncClient(timeout=5) as http:

                async def poller_unready() -> bool:
                    response = await http.get(poller.ready_url)
                    readyz.update(response.json())
                    return response.status_code == 503

                assert await _until(poller_unready, within=OUTAGE_SECONDS - 1), readyz
                worker_readyz: dict[str, object] = {}

                async def worker_unready() -> bool:
                    response = await http.get(worker.ready_url)
                    worker_readyz.update(response.json())
                    return response.status_code == 503

                assert await _until(worker_unready, within=OUTAGE_SECONDS - 1), worker_readyz
                assert "postgres" in worker_readyz["failing"], worker_readyz  # type: ignore[operator]
                assert worker_readyz["reasons"]["postgres"], worker_readyz  # type: ignore[index]
            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - 1))
            await pg.start()

            assert await _until(lambda: contacts(8), within=40), "the poller did not poll again"
            end = await end_offsets(SHARED_KAFKA, topic, PARTITIONS)

            async def caught_up() -> bool:
                sql = "SELECT sum(next_offset) FROM {}"
                projected = await _count(pg.url, schema, sql.format("consumer_offsets"))
                history = await _count(pg.url, schema, sql.format("history_offsets"))
                return projected >= end and history >= end

            assert await _until(caught_up, within=40), "the worker's tables did not catch up"
            for service in (poller, worker):
                await _wait_status(service, 200, within=20)
                assert not service.exited, service.name

            assert "postgres" in readyz["failing"], readyz  # type: ignore[operator]
            assert readyz["reasons"]["postgres"], readyz  # type: ignore[index]
            for service in (poller, worker):
                lines = service.lines()[before[service.name] :]
                text = "\n".join(lines)
                print(f"{service.name}: {len(lines)} lines during and after the outage\n{text}")
                assert len(lines) <= MAX_LINES, text
                assert "Traceback" not in text, text
                assert "postgres unreachable" in text, text
                assert "postgres is back after" in text, text
    finally:
        for service in reversed(services):
            service.stop()
        await pg.stop()
        pg.remove()
