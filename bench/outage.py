"""Outage benchmark: the receiver, the API and the writer through a broker outage and a
PostgreSQL outage, each as a real process (`ghl-sync webhooks`, `api`, `writer`, with the GHL
simulator), under steady load.

The outages use a private broker and a private PostgreSQL cluster (own ports outside the
ephemeral range, own folders under /tmp, the stack's cached Kafka jars): the shared stack is
never touched. For each service it reports:

- `down_seen`: seconds from the outage's start to the first `/readyz` 503 naming it;
- `ready_after`: seconds from the dependency serving again to `/readyz` 200;
- `work_after`: seconds from the dependency serving again to the first success of the
  service's own work (a webhook 200, a command 202 (Kafka) or a contact read 200
  (PostgreSQL), a command applied by the writer);
- `log_lines`: lines the service logged from the outage's start until all were ready again;
- `exits`: whether it exited (it must not).

    .venv/bin/python bench/outage.py                               # 60 s broker, 30 s PG
    .venv/bin/python bench/outage.py --broker-seconds 20 --postgres-seconds 10

`tests/integration/test_outage_services.py` runs the same machinery with short outages.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.db.migrate import apply_migrations
from services.stack import StackSettings
from services.stack._process import ephemeral_range
from services.stack.kafka import KafkaServer
from services.stack.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
GHL_SYNC = str(Path(sys.executable).parent / "ghl-sync")
API_KEY = "outage-" + uuid.uuid4().hex
_KEY = ed25519.Ed25519PrivateKey.generate()
PEM = (
    _KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
SHARED_KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
SHARED_DATABASE = os.environ.get("DATABASE_URL", "postgresql://ghl_sync@127.0.0.1:25432/ghl_sync")


def free_port() -> int:
    """A free port below the kernel's ephemeral range (the stack refuses ports inside it)."""
    low, _ = ephemeral_range()
    while True:
        port = random.randint(20000, min(low, 32768) - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@contextlib.contextmanager
def _quiet_popen() -> Iterator[None]:
    # The servers outlive the Popen objects `start` drops on return, which warns by design.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield


class _PrivateServer:
    """A server of the stack's own kind, stopped and started at will."""

    server: KafkaServer | PostgresServer

    async def start(self) -> None:
        with _quiet_popen():
            await asyncio.to_thread(self.server.start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.stop)


class PrivateBroker(_PrivateServer):
    """A Kafka broker of its own, stopped and started at will."""

    def __init__(self, folder: Path) -> None:
        self.settings = StackSettings(
            state_dir=folder, kafka_port=free_port(), kafka_controller_port=free_port()
        )
        self.server = KafkaServer(self.settings)
        self.server.libs.parent.mkdir(parents=True, exist_ok=True)
        if not self.server.libs.exists():
            self.server.libs.symlink_to(ROOT / ".stack" / "kafka" / self.server.libs.name)
        self.bootstrap = self.settings.kafka_bootstrap


class PrivatePostgres(_PrivateServer):
    """A PostgreSQL cluster of its own (in a folder the `postgres` account can reach)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ghl-sync-outage-", dir="/tmp"))
        self.folder.chmod(0o755)
        self.settings = StackSettings(state_dir=self.folder, postgres_port=free_port())
        self.server = PostgresServer(self.settings)
        self.url = self.settings.database_url

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Service:
    """One `ghl-sync` process with its log file and readiness URL."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ready_url: str
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [GHL_SYNC, *self.argv], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=ROOT,
            )  # fmt: skip

    @property
    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait(10)


def _delivery(location: str, contact: str) -> tuple[bytes, dict[str, str]]:
    data = {
        "type": "ContactTagUpdate",
        "locationId": location,
        "id": contact,
        "tags": ["outage"],
        "webhookId": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
    }
    raw = json.dumps(data, separators=(",", ":")).encode()
    signature = base64.b64encode(_KEY.sign(raw)).decode()
    return raw, {"Content-Type": "application/json", "X-GHL-Signature": signature}


@dataclass
class Outcome:
    at: float
    status: int | None


@dataclass
class Wired:
    """The processes of one outage run, wired to one broker and database: the GHL simulator
    (one location of five contacts) and the services under test, under a fresh topic prefix."""

    folder: Path
    bootstrap: str
    database_url: str
    schema: str
    prefix: str = field(default_factory=lambda: f"outage-{uuid.uuid4().hex[:8]}.")
    services: dict[str, Service] = field(default_factory=dict)
    sim: Service | None = None
    sim_url: str = ""
    location: str = ""
    contacts: list[str] = field(default_factory=list)

    async def _start_simulator(self, seed: int) -> str:
        """Start the simulator and learn its location and contacts; a token of the location."""
        sim_port = free_port()
        self.sim_url = f"http://127.0.0.1:{sim_port}"
        self.sim = Service(
            "simulator",
            ["simulator", "--port", str(sim_port), "--seed", str(seed), "--locations", "1",
             "--contacts", "5"],
            {**os.environ}, self.folder / "simulator.log", f"{self.sim_url}/_admin/state",
        )  # fmt: skip
        self.sim.start()
        await _wait_status(self.sim, 200, within=60)
        async with httpx.AsyncClient(base_url=self.sim_url, timeout=10) as http:
            state = (await http.get("/_admin/state")).json()
            self.location = next(iter(state["locations"]))
            self.contacts = [c["id"] for c in state["locations"][self.location]["contacts"]]
            grant = (await http.post("/_admin/tokens", json={"locationId": self.location})).json()
        return str(grant["access_token"])


@dataclass
class Fleet(Wired):
    """The simulator, the receiver, the API and the writer, wired to one broker and database."""

    webhooks: list[Outcome] = field(default_factory=list)
    commands: list[tuple[str, Outcome]] = field(default_factory=list)
    reads: list[Outcome] = field(default_factory=list)

    def _env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "GHL_SYNC_LOG_LEVEL": "INFO", **extra}
        for prefix in ("WEBHOOKS", "API", "WRITER"):
            env[f"GHL_SYNC_{prefix}_KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap
            env[f"GHL_SYNC_{prefix}_DATABASE_URL"] = self.database_url
            env[f"GHL_SYNC_{prefix}_DATABASE_SCHEMA"] = self.schema
            env[f"GHL_SYNC_{prefix}_TOPIC_PREFIX"] = self.prefix
            env[f"GHL_SYNC_{prefix}_TOPIC_PARTITIONS"] = "3"
        return env

    async def start(self) -> None:
        token = await self._start_simulator(seed=11)
        ports = {name: free_port() for name in ("webhooks", "api", "writer")}
        env = self._env(
            GHL_SYNC_WEBHOOKS_PORT=str(ports["webhooks"]),
            GHL_SYNC_WEBHOOKS_ED25519_PUBLIC_KEYS=json.dumps([PEM]),
            GHL_SYNC_WEBHOOKS_PRODUCE_TIMEOUT_SECONDS="2",
            GHL_SYNC_WEBHOOKS_RETRY_AFTER_SECONDS="1",
            GHL_SYNC_API_PORT=str(ports["api"]),
            GHL_SYNC_API_API_KEYS=json.dumps([API_KEY]),
            GHL_SYNC_API_PRODUCE_TIMEOUT_SECONDS="2",
            GHL_SYNC_API_PENDING_RETRY_SECONDS="1",
            # Bounds of a connected period that stopped confirming or reading (10 s instead of
            # 30 s and 20 s, so a stall after the restart is replaced well within the wait).
            GHL_SYNC_WRITER_PUBLISH_TIMEOUT_SECONDS="10",
            GHL_SYNC_WRITER_STALL_SECONDS="10",
            GHL_SYNC_WRITER_METRICS_PORT=str(ports["writer"]),
            GHL_SYNC_WRITER_LOCATION_TOKENS=json.dumps({self.location: token}),
            GHL_SYNC_GHL_BASE_URL=self.sim_url,
        )
        for name, argv in (("webhooks", ["webhooks"]), ("api", ["api"]), ("writer", ["writer"])):
            self.services[name] = Service(
                name, argv, env, self.folder / f"{name}.log",
                f"http://127.0.0.1:{ports[name]}/readyz",
            )  # fmt: skip
            self.services[name].start()
        for service in self.services.values():
            await _wait_status(service, 200, within=90)

    @property
    def receiver_url(self) -> str:
        return self.services["webhooks"].ready_url.removesuffix("/readyz")

    @property
    def api_url(self) -> str:
        return self.services["api"].ready_url.removesuffix("/readyz")

    def command(self) -> dict[str, Any]:
        return {
            "command_id": f"cmd-{uuid.uuid4().hex}",
            "command_type": "task.create",
            "location_id": self.location,
            "contact_id": random.choice(self.contacts),
            "payload": {"title": "Outage call", "dueDate": "2026-05-01T10:00:00Z"},
        }

    async def load(self, stop: asyncio.Event, every: float = 0.1) -> None:
        """One webhook, one command and one contact read every `every` seconds."""
        headers = {"X-API-Key": API_KEY}
        async with (
            httpx.AsyncClient(base_url=self.receiver_url, timeout=5) as receiver,
            httpx.AsyncClient(base_url=self.api_url, timeout=5, headers=headers) as api,
        ):

            async def one(kind: str) -> None:
                at = time.monotonic()
                status: int | None = None
                try:
                    if kind == "webhook":
                        raw, signed = _delivery(self.location, random.choice(self.contacts))
                        status = (await receiver.post("/webhooks/ghl", content=raw,
                                                      headers=signed)).status_code  # fmt: skip
                        self.webhooks.append(Outcome(at, status))
                    elif kind == "command":
                        body = self.command()
                        status = (await api.post("/v1/commands", json=body)).status_code
                        self.commands.append((body["command_id"], Outcome(at, status)))
                    else:
                        status = (await api.get("/v1/contacts?limit=5")).status_code
                        self.reads.append(Outcome(at, status))
                except httpx.HTTPError:
                    pass

            while not stop.is_set():
                await asyncio.gather(one("webhook"), one("command"), one("read"))
                await asyncio.sleep(every)

    async def command_states(self, ids: list[str]) -> dict[str, str]:
        """The state the API reports per command id (the HTTP status when not 200)."""
        headers = {"X-API-Key": API_KEY}
        states: dict[str, str] = {}
        async with httpx.AsyncClient(base_url=self.api_url, timeout=10, headers=headers) as api:
            for command_id in ids:
                response = await api.get(f"/v1/commands/{command_id}")
                ok = response.status_code == 200
                states[command_id] = response.json()["state"] if ok else str(response.status_code)
        return states

    async def settled_states(self, *, within: float) -> dict[str, str]:
        """Every command's state once none is `pending`, `accepted` or `received` any more
        (or when `within` seconds have passed)."""
        deadline = time.monotonic() + within
        while True:
            states = await self.command_states([c for c, _ in self.commands])
            open_ = [c for c, s in states.items() if s in ("pending", "accepted", "received")]
            if not open_ or time.monotonic() > deadline:
                return states
            await asyncio.sleep(1)

    def stop(self) -> None:
        for service in [*self.services.values(), *([self.sim] if self.sim else [])]:
            service.stop()


async def _wait_status(service: Service, status: int, *, within: float) -> float:
    """Poll `service.ready_url` until it answers `status`; returns when (monotonic)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if service.exited:
                raise RuntimeError(f"{service.name} exited:\n" + "\n".join(service.lines()[-40:]))
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(service.ready_url)).status_code == status:
                    return time.monotonic()
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{service.name} did not answer {status} within {within:.0f}s:\n"
                       + "\n".join(service.lines()[-40:]))  # fmt: skip


@dataclass
class OutageReport:
    """What one outage did to each service: when it noticed (a `/readyz` 503), when it was
    ready and at work again after the dependency came back (seconds), what it logged, whether
    it exited."""

    dependency: str
    seconds: float
    down_seen: dict[str, float]
    ready_after: dict[str, float]
    work_after: dict[str, float]
    log_lines: dict[str, list[str]]
    exited: dict[str, bool]


@dataclass
class Report(OutageReport):
    """What one outage did to the receiver, the API and the writer, and to their traffic."""

    statuses_during: dict[str, set[int | None]]
    routes_during: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    """Late in the outage: every API route's status and Retry-After."""
    refused_states: dict[str, str] = field(default_factory=dict)
    """Late in the outage: the state the API reports for commands it answered 503."""
    final_states: dict[str, str] = field(default_factory=dict)
    """After the recovery: the state of every command sent."""
    readyz_during: dict[str, Any] = field(default_factory=dict)
    """Late in the outage: each service's `/readyz` body."""


async def run_outage(fleet: Fleet, *, dependency: str, seconds: float, stop: Any,
                     start: Any) -> Report:  # fmt: skip
    """Take `dependency` away for `seconds` (via `stop`/`start` coroutines) under load."""
    before = {name: len(s.lines()) for name, s in fleet.services.items()}
    halt = asyncio.Event()
    load = asyncio.create_task(fleet.load(halt))
    await asyncio.sleep(2)
    went = time.monotonic()
    await stop()
    down_seen: dict[str, float] = {}

    async def notice(name: str, service: Service) -> None:
        with contextlib.suppress(TimeoutError):
            down_seen[name] = await _wait_status(service, 503, within=seconds) - went

    noticing = [asyncio.create_task(notice(n, s)) for n, s in fleet.services.items()]
    await asyncio.sleep(max(0.0, seconds * 0.7 - (time.monotonic() - went)))
    routes_during = await _every_route(fleet)
    readyz_during: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=5) as http:
        for name, service in fleet.services.items():
            readyz_during[name] = (await http.get(service.ready_url)).json()
    refused = [c for c, o in fleet.commands if o.status == 503][:20]
    refused_states = await fleet.command_states(refused)
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - went)))
    for task in noticing:
        task.cancel()
    await asyncio.gather(*noticing, return_exceptions=True)
    await start()
    back = time.monotonic()
    # Side by side: each service's time is its own, not bounded by the slowest before it.
    names = list(fleet.services)
    readies = await asyncio.gather(
        *(_wait_status(fleet.services[n], 200, within=120) for n in names)
    )
    ready_after = {name: at - back for name, at in zip(names, readies, strict=True)}
    await asyncio.sleep(3)  # successes after the recovery, for `work_after`
    halt.set()
    await load
    webhook_ok = [o.at for o in fleet.webhooks if o.at >= back and o.status == 200]
    accepted = [(c, o.at) for c, o in fleet.commands if o.at >= back and o.status == 202]
    reads_ok = [o.at for o in fleet.reads if o.at >= back and o.status == 200]
    work_after = {}
    if webhook_ok:
        work_after["webhooks"] = webhook_ok[0] - back
    api_ok = (
        accepted[0][1]
        if dependency == "kafka" and accepted
        else (reads_ok[0] if reads_ok else None)
    )
    if api_ok is not None:
        work_after["api"] = api_ok - back
    if accepted:
        applied = await _applied(fleet, accepted[0][0], within=60)
        if applied is not None:
            work_after["writer"] = applied - back
    during = {
        "webhooks": {o.status for o in fleet.webhooks if went + 5 <= o.at < went + seconds},
        "commands": {o.status for _, o in fleet.commands if went + 5 <= o.at < went + seconds},
        "reads": {o.status for o in fleet.reads if went + 5 <= o.at < went + seconds},
    }
    final_states = await fleet.settled_states(within=60)
    log_lines = {name: s.lines()[before[name] :] for name, s in fleet.services.items()}
    return Report(
        dependency=dependency, seconds=seconds, down_seen=down_seen, ready_after=ready_after,
        work_after=work_after, log_lines=log_lines,
        exited={n: s.exited for n, s in fleet.services.items()}, statuses_during=during,
        routes_during=routes_during, refused_states=refused_states, final_states=final_states,
        readyz_during=readyz_during,
    )  # fmt: skip


async def _every_route(fleet: Fleet) -> dict[str, tuple[int, str | None]]:
    """Each API route's status and Retry-After header, now."""
    known = next((c for c, o in fleet.commands if o.status == 202), "unknown-command")
    routes = {
        "POST /v1/commands": ("POST", "/v1/commands", {"json": fleet.command()}),
        "POST /v1/commands/batch": ("POST", "/v1/commands/batch",
                                    {"json": {"commands": [fleet.command()]}}),
        "GET /v1/commands/{id}": ("GET", f"/v1/commands/{known}", {}),
        "GET /v1/contacts": ("GET", "/v1/contacts", {}),
        "GET /v1/contacts/{id}": ("GET", f"/v1/contacts/{fleet.contacts[0]}", {}),
        "GET /v1/contacts/{id}/history": ("GET", f"/v1/contacts/{fleet.contacts[0]}/history",
                                          {}),
        "GET /readyz": ("GET", "/readyz", {}),
    }  # fmt: skip
    out: dict[str, tuple[int, str | None]] = {}
    async with httpx.AsyncClient(
        base_url=fleet.api_url, timeout=10, headers={"X-API-Key": API_KEY}
    ) as api:
        for name, (method, path, extra) in routes.items():
            response = await api.request(method, path, **extra)
            out[name] = (response.status_code, response.headers.get("retry-after"))
    return out


async def _applied(fleet: Fleet, command_id: str, *, within: float) -> float | None:
    """When the writer made `command_id` succeed (monotonic), polling its state."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(
        base_url=fleet.api_url, timeout=5, headers={"X-API-Key": API_KEY}
    ) as api:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                response = await api.get(f"/v1/commands/{command_id}")
                if response.status_code == 200 and response.json()["state"] == "succeeded":
                    return time.monotonic()
            await asyncio.sleep(0.1)
    return None


@contextlib.asynccontextmanager
async def fresh_schema(url: str) -> AsyncIterator[str]:
    """A new schema with every migration applied; dropped afterwards."""
    schema = f"outage_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await apply_migrations(conn, schema=schema)
    finally:
        await conn.close()
    try:
        yield schema
    finally:
        with contextlib.suppress(Exception):
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            finally:
                await conn.close()


@dataclass(frozen=True)
class Away:
    """Where the services under test connect, and how the outage takes the dependency away."""

    kafka: str
    database: str
    schema: str
    stop: Callable[[], Awaitable[None]]
    start: Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def with_private(folder: Path, dependency: str) -> AsyncIterator[Away]:
    """A private broker (`dependency="kafka"`) or PostgreSQL (`"postgres"`) for the outage to
    take away, the shared other one, and a fresh schema; all removed afterwards."""
    _make(folder)
    if dependency == "kafka":
        broker = PrivateBroker(folder / "stack")
        await broker.start()
        try:
            async with fresh_schema(SHARED_DATABASE) as schema:
                yield Away(broker.bootstrap, SHARED_DATABASE, schema, broker.stop, broker.start)
        finally:
            await broker.stop()
        return
    pg = PrivatePostgres()
    try:
        await pg.start()
        async with fresh_schema(pg.url) as schema:
            yield Away(SHARED_KAFKA, pg.url, schema, pg.stop, pg.start)
    finally:
        await pg.stop()
        pg.remove()


class _Processes(Protocol):
    async def start(self) -> None: ...

    def stop(self) -> None: ...


_P = TypeVar("_P", bound=_Processes)
_R = TypeVar("_R")


async def under_outage(
    folder: Path,
    dependency: str,
    seconds: float,
    build: Callable[[Path, str, str, str], _P],
    run: Callable[..., Awaitable[_R]],
) -> _R:
    """The processes `build(folder, kafka, database, schema)` makes, started against
    `with_private(folder, dependency)`, through `run(processes, dependency=, seconds=, stop=,
    start=)`; stopped afterwards."""
    async with with_private(folder, dependency) as away:
        processes = build(folder, away.kafka, away.database, away.schema)
        try:
            await processes.start()
            return await run(
                processes, dependency=dependency, seconds=seconds, stop=away.stop, start=away.start
            )
        finally:
            processes.stop()


async def broker_outage(folder: Path, seconds: float) -> Report:
    """A private broker goes away for `seconds`; the fleet uses the shared PostgreSQL."""
    return await under_outage(folder, "kafka", seconds, Fleet, run_outage)


async def postgres_outage(folder: Path, seconds: float) -> Report:
    """A private PostgreSQL goes away for `seconds`; the fleet uses the shared broker."""
    return await under_outage(folder, "postgres", seconds, Fleet, run_outage)


def _make(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def _print(report: Report) -> None:
    print(f"\n{report.dependency} away {report.seconds:.0f} s")
    print(f"{'service':<10} {'503 seen':>9} {'ready after':>12} {'work after':>11} "
          f"{'log lines':>10} {'exited':>7}")  # fmt: skip
    for name in report.ready_after:
        seen = report.down_seen.get(name)
        work = report.work_after.get(name)
        print(
            f"{name:<10} {'-' if seen is None else f'{seen:.1f} s':>9} "
            f"{report.ready_after[name]:>10.1f} s {'-' if work is None else f'{work:.1f} s':>11} "
            f"{len(report.log_lines[name]):>10} {report.exited[name]!s:>7}"
        )
    for name, lines in report.log_lines.items():
        for line in lines:
            print(f"  {name}: {line[:160]}")
    print("statuses during the outage:", report.statuses_during)
    print("API routes late in the outage:", report.routes_during)
    print("states of refused commands late in the outage:",
          sorted(set(report.refused_states.values())))  # fmt: skip
    finals: dict[str, int] = {}
    for state in report.final_states.values():
        finals[state] = finals.get(state, 0) + 1
    print("command states after the recovery:", finals)


def outage_main(
    doc: str,
    folder_prefix: str,
    outages: dict[str, Callable[[Path, float], Awaitable[_R]]],
    show: Callable[[_R], None],
    *,
    before: Callable[[], None] | None = None,
) -> None:
    """An outage bench's command line: `--broker-seconds` and `--postgres-seconds` (0 skips
    one), each outage (`outages["broker"]`, `outages["postgres"]`) run in a folder of its own
    and its report shown, with the load average before and after each."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--broker-seconds", type=float, default=60.0)
    parser.add_argument("--postgres-seconds", type=float, default=30.0)
    args = parser.parse_args()
    seconds = {"broker": args.broker_seconds, "postgres": args.postgres_seconds}

    async def run() -> None:
        if before is not None:
            before()
        print("load before:", _loadavg())
        folder = Path(tempfile.mkdtemp(prefix=folder_prefix))
        for name, outage in outages.items():
            if seconds[name]:
                show(await outage(folder / name, seconds[name]))
                print("load:", _loadavg())
        shutil.rmtree(folder, ignore_errors=True)

    asyncio.run(run())


if __name__ == "__main__":
    outage_main(
        __doc__,
        "ghl-sync-outage-bench-",
        {"broker": broker_outage, "postgres": postgres_outage},
        _print,
    )
