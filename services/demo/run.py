"""`ghl-sync demo`: the whole sync against the GHL simulator, end to end, then a verdict.

1. The local stack, and a namespace of this run's own (topic prefix and database schema), so
   runs never mix.
2. The simulator, seeded; ghl-sync installed at agency level on every location through one
   OAuth consent (a Company token; each location's token minted from it); the webhook
   receiver, the worker (normalize + projections) and the install handler.
3. The backfill of every location, with progress bars; then the poller.
4. A minute of live activity in the simulator with webhook faults (lost, duplicated and
   late deliveries, silent task edits), and freshness probes: a contact edit through the GHL
   API, timed until its row shows the change. A new sub-account is added meanwhile: the app
   is installed on it by itself (a future-location install), and it is onboarded with no
   step of ours (token, backfill, polling).
5. Convergence: the projections must equal the simulator's ground truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.db.migrate import apply_migrations
from services.demo._agency import AGENCY_SCOPES, add_future_location, agency_consent
from services.demo._processes import Service, start_service
from services.demo.settings import DemoSettings
from services.ghl import (
    GhlClient,
    GhlError,
    GhlSettings,
    Priority,
    build_client,
    build_rate_limiter,
    build_token_provider,
    generate_key,
)
from services.ghl.requests import ContactUpdate
from services.installs import InstallSettings
from services.platform.pools import open_pool
from services.platform.supervise import Supervisor
from services.poller._sink import EventSink
from services.poller.backfill import Backfill, BackfillProgress
from services.stack import Stack, StackSettings
from streams.admin import ensure_topics
from streams.projections.lag import projection_lag
from streams.projections.verify import diff_against_ground_truth, dump_tables
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["DemoReport", "run_demo"]

_SIM_CLIENT_ID = "ghl-sync-simulator"
_SIM_CLIENT_SECRET = "simulator-client-secret"  # the simulator's published demo app secret


@dataclass
class DemoReport:
    """What the demo did and found."""

    run_id: str
    locations: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per table: (live, deleted) rows."""
    events: int = 0
    lag: int = 0
    ghl_requests: int = 0
    freshness: list[float] = field(default_factory=list)
    """Probes of the first half of the live activity (the budget not saturated)."""
    freshness_saturated: list[float] = field(default_factory=list)
    """Probes of the second half, while backfill-priority reads saturate every probed
    location's budget."""
    probes_unseen: int = 0
    differences: list[str] = field(default_factory=list)
    future_location: str | None = None
    """The sub-account added during the live phase (a future-location install)."""
    stop_status: int | None = None
    """With `keep_running`: the supervisor's exit status once the services were stopped (the
    report was printed before they were)."""

    @property
    def converged(self) -> bool:
        """Whether the projections equal GHL's ground truth."""
        return not self.differences


class _Demo:
    def __init__(self, settings: DemoSettings, stack: StackSettings, console: Console) -> None:
        self.s = settings
        self.stack = stack
        self.out = console
        self.run_id = time.strftime("%Y%m%d%H%M%S")
        self.schema = f"demo_{self.run_id}"
        self.prefix = f"demo-{self.run_id}."
        self.sim_url = f"http://127.0.0.1:{settings.simulator_port}"
        self.key = generate_key()
        self.log_dir = Path(settings.log_dir) / self.run_id
        self.supervisor = Supervisor([], notice=self._notice)
        self.report = DemoReport(run_id=self.run_id)
        self.streams = StreamsSettings(
            kafka_bootstrap_servers=stack.kafka_bootstrap,
            topic_prefix=self.prefix,
            app_id=f"demo-{self.run_id}",
            database_url=SecretStr(stack.database_url),
            database_schema=self.schema,
            metrics_port=settings.worker_metrics_port,
        )
        self.ghl = GhlSettings(
            base_url=self.sim_url,
            authorize_url=f"{self.sim_url}/oauth/chooselocation",
            client_id=_SIM_CLIENT_ID,
            client_secret=SecretStr(_SIM_CLIENT_SECRET),
            redirect_uri="http://127.0.0.1:1/callback",
            token_encryption_key=SecretStr(self.key),
            scopes=AGENCY_SCOPES,
        )

    def env(self) -> dict[str, str]:
        db, kafka = self.stack.database_url, self.stack.kafka_bootstrap
        env = {
            "GHL_SYNC_GHL_BASE_URL": self.sim_url,
            "GHL_SYNC_GHL_AUTHORIZE_URL": self.ghl.authorize_url,
            "GHL_SYNC_GHL_CLIENT_ID": _SIM_CLIENT_ID,
            "GHL_SYNC_GHL_CLIENT_SECRET": _SIM_CLIENT_SECRET,
            "GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY": self.key,
            "GHL_SYNC_STREAMS_APP_ID": self.streams.app_id,
            "GHL_SYNC_STREAMS_METRICS_PORT": str(self.s.worker_metrics_port),
            # No GHL_SYNC_POLLER_LOCATIONS: the poller polls what is installed (tokens and
            # registered locations), so a location added later is polled too.
            "GHL_SYNC_GHL_SCOPES": AGENCY_SCOPES,
            # The one shared connection configuration: every service reads these.
            "GHL_SYNC_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "GHL_SYNC_DATABASE_URL": db,
            "GHL_SYNC_DATABASE_SCHEMA": self.schema,
            "GHL_SYNC_INSTALLS_RECONCILE_SECONDS": str(self.s.poll_seconds * 2),
            "GHL_SYNC_POLLER_CYCLE_SECONDS": str(self.s.poll_seconds),
            "GHL_SYNC_POLLER_TASK_SWEEP_SECONDS": str(self.s.poll_seconds),
            # Full passes (every contact's notes and appointments) cost 2 requests a contact:
            # rarer than the cheap contact and task polls.
            "GHL_SYNC_POLLER_CHILDREN_SWEEP_SECONDS": str(self.s.poll_seconds * 4),
            "GHL_SYNC_POLLER_RECONCILE_SECONDS": str(self.s.poll_seconds * 4),
            # The demo compresses a day into minutes: the quota plan may spend the whole
            # daily budget on the safety nets (25% by default would stretch a full sweep of
            # a demo location past the convergence timeout).
            "GHL_SYNC_POLLER_QUOTA_SHARE": "1.0",
            # The simulator's search has no index lag to wait out.
            "GHL_SYNC_POLLER_RECONCILE_GRACE_SECONDS": str(self.s.poll_seconds),
            "GHL_SYNC_WEBHOOKS_PORT": str(self.s.webhooks_port),
        }
        for service in ("STREAMS", "WEBHOOKS", "POLLER"):
            env[f"GHL_SYNC_{service}_TOPIC_PREFIX"] = self.prefix
        return env

    def _notice(self, line: str) -> None:
        """The supervisor's notices (a service exited, restarted, stopped) go to its log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / "supervisor.log").open("a") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")

    async def start(self, name: str, *args: str) -> Service:
        return await start_service(self.supervisor, name, list(args), self.env(), self.log_dir)

    async def stop_all(self) -> None:
        await self.supervisor.stop("the demo is over")

    async def hold(self) -> int:
        """Keep the services running until Ctrl-C or SIGTERM, then stop them the way
        `ghl-sync run` does; returns its exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.supervisor.request_stop, sig.name)
        self.out.print(
            f"the services keep running ({', '.join(self.supervisor.names)}; logs in "
            f"{self.log_dir}); Ctrl-C or `kill {os.getpid()}` stops them",
            highlight=False,
        )
        outcome = await self.supervisor.wait()
        self.out.print(f"stopped ({outcome.reason})", highlight=False)
        return outcome.exit_code

    @asynccontextmanager
    async def client(self, pool: asyncpg.Pool) -> AsyncIterator[GhlClient]:
        client = build_client(
            self.ghl,
            token_provider=build_token_provider(self.ghl, pool=pool),
            rate_limiter=build_rate_limiter(self.ghl, pool=pool),
        )
        async with client:
            yield client

    async def authorise(self, pool: asyncpg.Pool) -> None:
        """One agency consent for every location and future ones: the Company token is
        stored encrypted and every location's token minted from it."""
        found = await agency_consent(
            self.ghl, pool, InstallSettings(reconcile_seconds=self.s.poll_seconds * 2)
        )
        self.out.print(
            f"agency consent: {found.listed} locations installed, {found.onboarded} onboarded "
            f"({found.pages} installedLocations pages)",
            highlight=False,
        )

    async def backfill(self, pool: asyncpg.Pool, client: GhlClient) -> None:
        sink = EventSink(self.stack.kafka_bootstrap, topic_names(self.streams).events, partitions=6)
        await sink.start()
        try:
            with Progress(
                TextColumn("{task.description:<22}"),
                TextColumn("{task.fields[phase]:<13}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("contacts, {task.fields[tasks]} tasks, ETA {task.fields[eta]}"),
                TimeElapsedColumn(),
                console=self.out,
            ) as bars:
                rate = self.ghl.rate_limit_requests / self.ghl.rate_limit_interval

                async def one(location: str) -> None:
                    bar = bars.add_task(location, total=None, phase="contacts", tasks=0, eta="?")

                    def report(p: BackfillProgress, *, requests_left: int) -> None:
                        eta = int(requests_left / rate)
                        bars.update(
                            bar, completed=p.contacts_done, total=p.contacts_total,
                            phase=p.phase, tasks=p.tasks_done, eta=f"{eta // 60}:{eta % 60:02d}",
                        )  # fmt: skip

                    await Backfill(client, pool, sink, location).run(report)

                await asyncio.gather(*(one(location) for location in self.report.locations))
        finally:
            await sink.stop()

    async def activity(self, pool: asyncpg.Pool, client: GhlClient) -> None:
        """Simulated changes with webhook faults, and timed probes of freshness."""
        pending: dict[tuple[str, str, str], tuple[float, bool]] = {}
        probes: list[tuple[str, str]] = []
        async with httpx.AsyncClient(base_url=self.sim_url, timeout=30) as admin:
            state = (await admin.get("/_admin/state")).json()["locations"]
            for location in self.report.locations:
                probes.append((location, state[location]["contacts"][0]["id"]))
            await admin.post(
                "/_admin/faults",
                json={
                    "webhook_drop_rate": self.s.drop_webhooks,
                    "webhook_duplicate_rate": self.s.duplicate_webhooks,
                    "webhook_reorder_rate": self.s.reorder_webhooks,
                },
            )
            deadline = time.monotonic() + self.s.activity_seconds
            n = 0

            async def watch() -> None:
                while True:
                    for (location, contact, value), (started, hot) in list(pending.items()):
                        seen = await pool.fetchval(
                            "SELECT first_name FROM contacts WHERE location_id = $1 AND id = $2",
                            location, contact,
                        )  # fmt: skip
                        if seen == value:
                            into = self.report.freshness_saturated if hot else self.report.freshness
                            into.append(time.monotonic() - started)
                            del pending[(location, contact, value)]
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch())
            saturating: list[asyncio.Task[None]] = []
            halfway = deadline - self.s.activity_seconds / 2

            async def saturate(location: str) -> None:
                ids = [c["id"] for c in state[location]["contacts"]]
                for k in itertools.count():
                    with contextlib.suppress(GhlError):
                        await client.get_contact(location, ids[k % len(ids)],
                                                 priority=Priority.BACKFILL)  # fmt: skip

            steps = max(1, round(self.s.activity_steps_per_second * self.s.probe_interval))
            with self.out.status("live activity") as status:
                while time.monotonic() < deadline:
                    if not saturating and time.monotonic() >= halfway:
                        saturating = [asyncio.create_task(saturate(loc))
                                      for loc, _ in probes for _ in range(8)]  # fmt: skip
                    await admin.post("/_admin/activity", json={"steps": steps})
                    location, contact = probes[n % len(probes)]
                    value = f"Probe{n}"
                    started = time.monotonic()
                    await client.update_contact(
                        location, contact, ContactUpdate(firstName=value), priority=Priority.WRITE
                    )
                    pending[(location, contact, value)] = (started, bool(saturating))
                    n += 1
                    status.update(
                        f"live activity: {n} probes, {len(self.report.freshness)} seen, "
                        f"{int(deadline - time.monotonic())}s left"
                    )
                    await asyncio.sleep(self.s.probe_interval)
            for task in saturating:
                task.cancel()
            await asyncio.gather(*saturating, return_exceptions=True)
            await admin.post("/_admin/faults?reset=true", json={})
            # A probe overwritten by the next probe of the same contact before its row showed
            # it can never be seen; give the rest a few seconds, then count them as unseen.
            await asyncio.sleep(5)
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            self.report.probes_unseen = len(pending)

    async def converge(self, pool: asyncpg.Pool) -> None:
        deadline = time.monotonic() + self.s.converge_timeout
        with self.out.status("waiting for convergence") as status:
            while True:
                lags = await projection_lag(self.streams)
                self.report.lag = sum(p.lag for p in lags)
                async with httpx.AsyncClient(base_url=self.sim_url, timeout=60) as admin:
                    state = (await admin.get("/_admin/state")).json()
                async with pool.acquire() as conn:
                    rows = await dump_tables(conn)
                self.report.differences = diff_against_ground_truth(rows, state)
                if not self.report.differences and self.report.lag == 0:
                    return
                if time.monotonic() > deadline:
                    return
                status.update(
                    f"waiting for convergence: {len(self.report.differences)} differences, "
                    f"lag {self.report.lag}, {int(deadline - time.monotonic())}s left"
                )
                await asyncio.sleep(3)

    async def figures(self, pool: asyncpg.Pool) -> None:
        for table in ("contacts", "tasks", "notes", "appointments"):
            row = await pool.fetchrow(
                f"SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live,"
                f" count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM {table}"
            )
            assert row is not None
            self.report.rows[table] = (row["live"], row["deleted"])
        lags = await projection_lag(self.streams)
        self.report.events = sum(p.end_offset for p in lags)
        self.report.lag = sum(p.lag for p in lags)
        ledger = await pool.fetchval("SELECT to_regclass('ghl_rate_limits') IS NOT NULL")
        if ledger:
            self.report.ghl_requests = int(
                await pool.fetchval("SELECT coalesce(sum(day_count), 0) FROM ghl_rate_limits") or 0
            )

    async def run(self, keep_running: bool) -> DemoReport:
        started = time.monotonic()
        finished = False
        t = time.monotonic()
        # The stack API is synchronous (it runs its own event loop): a thread keeps it apart.
        await asyncio.to_thread(Stack(self.stack).up)
        self.report.seconds["stack up"] = time.monotonic() - t
        admin_conn = await asyncpg.connect(self.stack.database_url)
        try:
            await apply_migrations(admin_conn, schema=self.schema)
        finally:
            await admin_conn.close()
        await ensure_topics(
            self.stack.kafka_bootstrap, topic_names(self.streams).all(), partitions=6
        )
        pool = await open_pool(self.stack.database_url, schema=self.schema, min_size=1, max_size=8)
        try:
            t = time.monotonic()
            simulator = await self.start(
                "simulator", "simulator", "--port", str(self.s.simulator_port),
                "--seed", str(self.s.seed), "--locations", str(self.s.locations),
                "--contacts", str(self.s.contacts), "--activity-rate", "0",
                "--webhook-url", f"http://127.0.0.1:{self.s.webhooks_port}/webhooks/ghl",
            )  # fmt: skip
            await simulator.wait_http(f"{self.sim_url}/_admin/faults", within=120)
            async with httpx.AsyncClient(base_url=self.sim_url, timeout=60) as admin:
                state = (await admin.get("/_admin/state")).json()
            self.report.locations = sorted(state["locations"])
            await self.authorise(pool)
            receiver = await self.start(
                "webhooks", "webhooks", "--port", str(self.s.webhooks_port),
                "--simulator-url", self.sim_url,
            )  # fmt: skip
            await receiver.wait_http(f"http://127.0.0.1:{self.s.webhooks_port}/healthz")
            worker = await self.start("worker", "worker", "--loglevel", "warning")
            await worker.wait_http(f"http://127.0.0.1:{self.s.worker_metrics_port}/metrics")
            # App webhooks (INSTALL, UNINSTALL, LocationCreate) and installedLocations
            # reconciliation: a location added later is onboarded by it.
            await self.start("installs", "installs", "--metrics-port", "0")
            self.report.seconds["services up"] = time.monotonic() - t
            self.out.print(
                f"run {self.run_id}: {len(self.report.locations)} locations x "
                f"{self.s.contacts} contacts; topics {self.prefix}*, schema {self.schema}; "
                f"logs in {self.log_dir}"
            )
            async with self.client(pool) as client:
                t = time.monotonic()
                await self.backfill(pool, client)
                self.report.seconds["backfill"] = time.monotonic() - t
                await self.start(
                    "poller", "poller", "--metrics-port", str(self.s.poller_metrics_port)
                )
                t = time.monotonic()
                # A new sub-account during the live phase: the app is installed on it by
                # itself (future locations), ghl-sync onboards it; convergence covers it.
                self.report.future_location = await add_future_location(
                    self.sim_url, self.s.contacts
                )
                await self.activity(pool, client)
                self.report.seconds["live activity"] = time.monotonic() - t
            t = time.monotonic()
            await self.converge(pool)
            self.report.seconds["convergence"] = time.monotonic() - t
            await self.figures(pool)
            finished = True
        finally:
            await pool.close()
            if not (keep_running and finished):
                await self.stop_all()
        self.report.seconds["total"] = time.monotonic() - started
        if keep_running:
            print_report(self.report, self.out)
            self.report.stop_status = await self.hold()
        return self.report


def _pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


def print_report(report: DemoReport, console: Console) -> None:
    """The summary the demo ends with."""
    console.rule(f"ghl-sync demo {report.run_id}")
    for table, (live, deleted) in report.rows.items():
        console.print(f"{table:<13} {live:>7} live  {deleted:>6} deleted")
    console.print(f"events in ghl.events  {report.events}   projection lag {report.lag}")
    if report.future_location is not None:
        console.print(
            f"future location       {report.future_location} added live, installed by "
            "itself, onboarded with no manual step",
            highlight=False,
        )
    console.print(f"GHL requests today    {report.ghl_requests} (rate-limit ledger)")
    fresh = report.freshness
    console.print(
        f"freshness (GHL edit -> row) p50 {_pct(fresh, 50):.2f}s  p99 {_pct(fresh, 99):.2f}s "
        f"over {len(fresh)} probes; {report.probes_unseen} unseen (superseded or lost)"
    )
    hot = report.freshness_saturated
    console.print(
        f"freshness, budget saturated by backfill reads: p50 {_pct(hot, 50):.2f}s  "
        f"p99 {_pct(hot, 99):.2f}s over {len(hot)} probes"
    )
    console.print(
        "timings  " + ", ".join(f"{name} {secs:.0f}s" for name, secs in report.seconds.items())
    )
    if report.converged:
        console.print(
            "[bold green]converged:[/] the projections equal the simulator's ground truth"
        )
    else:
        console.print(f"[bold red]NOT converged:[/] {len(report.differences)} differences")
        for line in report.differences[:20]:
            console.print(f"  {line}", highlight=False)


async def run_demo(
    settings: DemoSettings, stack: StackSettings, *, keep_running: bool, console: Console
) -> DemoReport:
    """Run the demo; the report says whether everything converged."""
    return await _Demo(settings, stack, console).run(keep_running)
