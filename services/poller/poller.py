"""The poller: what webhooks miss, every location on its own schedule, shared by instances.

An instance (`Poller.run_forever`) runs three kinds of tasks:

- the lease loop (`_leases.LeaseStore.tick` every sixth of the lease period, and at once on
  `NOTIFY ghl_sync_poller_targets`): which locations this instance holds;
- one task per held location: its backfill first when it has none finished (at most
  `max_backfills` at once per instance, so onboarding hundreds of locations keeps the machine
  and each location's budget within limits), then its cycles (`_location.LocationPoller`),
  each `cycle_seconds` after the previous one *started*. Locations never wait for each
  other: a slow one delays only itself;
- the watchdog: cancels a location's task the moment its lease may have expired;
- the flusher: every `flush_seconds`, the confirmed changes of all locations in one
  transaction, so PostgreSQL commits stay below one per GHL request.

With `definitions` (a `services.customfields.DefinitionSync`), a location's custom field
definitions are read at onboarding (before its backfill), then as its cycles say.

A location whose lease is lost (removed, taken over after a stall, re-balanced to a new
instance) has its task cancelled; the lease is checked before every cycle.

Failure policy: a GHL error fails the location's cycle (logged with the location, retried
next cycle); Kafka or PostgreSQL errors end `run_forever` (every location task is cancelled:
with PostgreSQL away no lease can be renewed, and the watchdog stops a location whose lease
may have expired even before that). `ghl-sync poller` runs it again under the outage policy
(`services.platform.outage.keep_running`): one line when the dependency goes, one when it is
back; the new run takes its leases afresh and flushes what the last one could not. Calls are
made at the POLL priority (BACKFILL for backfills), below writes and webhook enrichment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from services.customfields import DefinitionSync
from services.ghl import GhlClient, GhlError, RequestClass, charged_to
from services.platform.outage import database_outage
from services.poller import _metrics
from services.poller._leases import LeaseStore
from services.poller._location import CycleReport, LocationPoller
from services.poller._sink import EventSink
from services.poller._store import LocationDelta, PollerStore
from services.poller.backfill import Backfill
from services.poller.plan import QuotaPlan
from services.poller.settings import PollerSettings
from services.poller.targets import CHANNEL

__all__ = ["CycleReport", "Poller"]

log = logging.getLogger("services.poller")

_PHASES = 10


class Poller:
    """One poller instance; see the module docstring."""

    def __init__(
        self,
        client: GhlClient,
        store: PollerStore,
        sink: EventSink,
        settings: PollerSettings,
        *,
        pool: asyncpg.Pool | None = None,
        clock: Callable[[], datetime] | None = None,
        concurrency: int = 8,
        on_cycle: Callable[[str, float, float, CycleReport], None] | None = None,
        definitions: DefinitionSync | None = None,
    ) -> None:
        self._client = client
        self._definitions = definitions
        self._on_cycle = on_cycle
        self._store = store
        self._sink = sink
        self._s = settings
        self._pool = pool
        self._clock = clock or (lambda: datetime.now(UTC))
        self._concurrency = concurrency
        self.instance_id = settings.instance_id or f"{socket.gethostname()}:{os.getpid()}"
        self._locations: dict[str, LocationPoller] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pending: dict[str, LocationDelta] = {}
        self._backfills = asyncio.Semaphore(settings.max_backfills)
        self._wake = asyncio.Event()
        self.leases: LeaseStore | None = None
        self.cycles = 0

    async def _location(self, location_id: str) -> LocationPoller:
        poller = self._locations.get(location_id)
        if poller is None:
            snapshot = await self._store.load(location_id)
            poller = LocationPoller(
                location_id,
                snapshot,
                client=self._client,
                store=self._store,
                sink=self._sink,
                settings=self._s,
                clock=self._clock,
                concurrency=self._concurrency,
                definitions=self._definitions,
            )
            self._locations[location_id] = poller
        return poller

    def plan_of(self, location_id: str) -> QuotaPlan | None:
        """The plan a location runs in this instance (None before its first cycle here)."""
        poller = self._locations.get(location_id)
        return None if poller is None else poller.plan

    async def run_cycle(self, location_id: str) -> CycleReport:
        """One cycle of one location, its changes written at once; returns what it did."""
        poller = await self._location(location_id)
        report, delta = await poller.cycle()
        await self._store.flush({location_id: delta}, holder=self.instance_id)
        return report

    async def run_forever(self) -> None:
        """Hold leases and poll the held locations until cancelled."""
        if self._pool is None:
            raise ValueError("run_forever needs the pool (leases and target notifications)")
        self.leases = LeaseStore(self._pool, self.instance_id, self._s.lease_seconds)
        listener = await self._pool.acquire()
        await listener.add_listener(CHANNEL, self._notified)
        flusher = asyncio.create_task(self._flush_forever())
        watchdog = asyncio.create_task(self._watch())
        try:
            while True:
                candidates = list(self._s.locations) or await self._store.candidates()
                held, surplus = await self.leases.tick(candidates)
                self._follow(held)
                if surplus:
                    await self._stop(surplus)
                    await self.leases.release(surplus)
                _metrics.LEASES.set(len(held))
                await self._export(held)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.leases.renew_every)
        finally:
            flusher.cancel()
            watchdog.cancel()
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(flusher, watchdog, *self._tasks.values(), return_exceptions=True)
            self._tasks.clear()  # a next run (after an outage) starts its locations afresh
            self._locations.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush(), 5)
                await asyncio.wait_for(self.leases.release_all(), 5)
            with contextlib.suppress(Exception):
                await listener.remove_listener(CHANNEL, self._notified)
            with contextlib.suppress(Exception):  # a connection the outage broke
                await asyncio.wait_for(self._pool.release(listener), 5)

    async def _export(self, held: set[str]) -> None:
        """Refresh the per-location gauges of the held locations (one read)."""
        assert self._pool is not None
        rows = await self._pool.fetch(
            "SELECT location_id, request_class, requests FROM ghl_request_counts "
            "WHERE day = (now() AT TIME ZONE 'UTC')::date AND location_id = ANY($1::text[])",
            sorted(held),
        )
        for r in rows:
            _metrics.REQUESTS_TODAY.labels(r["location_id"], r["request_class"]).set(r["requests"])
        now = self._clock()
        for location_id in held:
            poller = self._locations.get(location_id)
            if poller is None:
                continue
            _metrics.PROJECTED.labels(location_id).set(poller.plan.projected_daily)
            _metrics.STALENESS_BOUND.labels(location_id).set(poller.plan.staleness_bound)
            oldest = poller.oldest_swept_at()
            if oldest is not None:
                _metrics.OLDEST_UNSWEPT.labels(location_id).set((now - oldest).total_seconds())

    async def _stop(self, locations: list[str]) -> None:
        tasks = [self._tasks.pop(loc) for loc in locations if loc in self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for location_id in locations:
            self._locations.pop(location_id, None)

    async def _watch(self) -> None:
        """Stop a location the moment its lease may have expired (a tick that hangs on a
        stalled database must not let a cycle outlive the lease)."""
        assert self.leases is not None
        while True:
            await asyncio.sleep(self._s.lease_seconds / 20)
            for location_id, task in list(self._tasks.items()):
                if not task.done() and not self.leases.valid(location_id):
                    log.warning("lease expired unrenewed: location=%s", location_id)
                    task.cancel()

    def _notified(self, *_: object) -> None:
        self._wake.set()

    def _follow(self, held: set[str]) -> None:
        for location_id in list(self._tasks):
            if location_id not in held or self._tasks[location_id].done():
                task = self._tasks.pop(location_id)
                if not task.done():
                    log.info("lease lost: location=%s", location_id)
                    task.cancel()
                elif not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]  # Kafka or PG: crash
                self._locations.pop(location_id, None)
        for location_id in sorted(held - set(self._tasks)):
            self._tasks[location_id] = asyncio.create_task(
                self._run_location(location_id), name=f"poll:{location_id}"
            )

    async def _run_location(self, location_id: str) -> None:
        assert self.leases is not None
        poller = await self._location(location_id)
        if poller.snap.backfilled:
            # Spread the locations' cycles over ten phases of the cycle period (by a hash of
            # the id, the same in every instance), so a thousand locations taken at once do
            # not all poll, and load the machine, in the same second; those of one phase still
            # book their requests together (one statement for all). New locations are spread
            # already: their backfills wait for a slot.
            phase = zlib.crc32(location_id.encode()) % _PHASES
            await asyncio.sleep(phase * poller.plan.cycle_seconds / _PHASES)
        else:
            async with self._backfills:
                if not self.leases.valid(location_id):
                    return
                await self._backfill(location_id)
            self._locations.pop(location_id, None)
            poller = await self._location(location_id)
        while self.leases.valid(location_id):
            started = time.monotonic()
            try:
                report, delta = await poller.cycle()
            except GhlError as exc:
                log.warning("poll cycle failed: location=%s error=%s", location_id, exc)
                _metrics.CYCLES.labels(outcome="failed").inc()
                _metrics.CYCLE_ERRORS.labels(type(exc).__name__).inc()
            else:
                self._merge(location_id, delta)
                self.cycles += 1
                if self._on_cycle is not None:
                    self._on_cycle(location_id, started, time.monotonic(), report)
                _metrics.CYCLES.labels(outcome="ok").inc()
                _metrics.CYCLE_SECONDS.observe(time.monotonic() - started)
                log.debug("poll cycle: %s", report)
            wait = poller.plan.cycle_seconds - (time.monotonic() - started)
            await asyncio.sleep(max(wait, 0.0))

    async def _backfill(self, location_id: str) -> None:
        assert self._pool is not None
        log.info("backfill starts: location=%s", location_id)
        started = time.monotonic()
        if self._definitions is not None:
            with charged_to(RequestClass.DEFINITIONS):
                await self._definitions.sync(location_id, reason="onboarding")
        done = await Backfill(
            self._client, self._pool, self._sink, location_id,
            appointments_past_days=self._s.appointments_past_days,
            appointments_future_days=self._s.appointments_future_days,
        ).run()  # fmt: skip
        log.info(
            "backfill done: location=%s contacts=%d tasks=%d in %.1fs",
            location_id,
            done.contacts_done,
            done.tasks_done,
            time.monotonic() - started,
        )

    def _merge(self, location_id: str, delta: LocationDelta) -> None:
        pending = self._pending.get(location_id)
        if pending is None:
            self._pending[location_id] = delta
        else:
            pending.merge(delta)

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self._store.flush(batch, holder=self.instance_id)
        except BaseException:
            # Keep them for the next attempt, older under newer.
            for location_id, newer in self._pending.items():
                if location_id in batch:
                    batch[location_id].merge(newer)
                else:
                    batch[location_id] = newer
            self._pending = batch
            raise

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._s.flush_seconds)
            try:
                await self._flush()
            except Exception as exc:
                if not database_outage(exc):
                    raise
                # Kept for the next flush; the tick reports the outage (and ends the run).
