"""The normalize consumer: `ghl.raw.v1` -> `ghl.events.v1` (key `location_id:contact_id`).

A sink of the platform's `BatchConsumer` (hosted by the Faust worker), not a Faust agent:
Faust acknowledges a `take` batch even when the body raised, and here offsets must be
committed only after the records' events are on Kafka.

Locations are isolated. Each consumed record is decoded and queued on its location's lane
(`lanes`): coalesced per entity while it waits, resolved with the lane's own fetch slots
(`normalize_location_concurrency`), and its events are produced as soon as its fetch answers,
in order per key. The committed offset of a partition is the oldest record whose events are
not yet acknowledged by Kafka (`offsets`), so a crash repeats work and never skips it; the
same GHL state gives the same event ids, so consumers see harmless duplicates.

Burst mode (`burst`): when a lane holds at least `burst_threshold` contact, task or note
changes announced more than `burst_settle_seconds` ago, it resolves them together: contacts
by one `POST /contacts/search` over the `dateUpdated` window that covers them (500 a page),
tasks by the location task search's `contactId` filter, notes by one list per contact.
Whatever the answers miss, or a hit older than its webhook (GHL's search index lags writes),
is fetched one by one. Both paths build events with the same `mapping.resolve`, so the ids
are the same whichever path read a state.

Failure policy:
- bad data (not a raw record, not a webhook we can read, a group whose contact nobody names,
  GHL rejecting the fetch as invalid): dead-lettered to `ghl.raw.dlq.v1` with the reason;
- GHL unavailable or rate-limited: the group is retried with backoff, holding only its
  own key (the lane's other work and other lanes go on);
- no usable token (`AuthError`): the location is parked: its records wait on the parked list
  (`ghl-sync status`, metric `ghl_sync_normalize_parked_records`), one of them is retried
  every `normalize_park_probe_seconds`, and the lane resumes at the first success; nothing
  is dropped and nothing of it is committed meanwhile;
- more than `normalize_max_pending` records in memory (parked ones not counted, up to four
  times that with them): backpressure (the consumer pauses);
- a produce that Kafka does not acknowledge: a lost broker; it propagates and the worker's
  entry point (its `supervise`) runs the consumer again once the broker answers, re-reading
  from the committed offsets (`streams.worker`, the outage policy);
- anything else: a bug; it propagates and the worker stops; a restart re-reads from the
  committed offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from aiokafka import AIOKafkaProducer, TopicPartition

from schemas import AuthError, Contact, Event, GhlError, ValidationFailed, encode_event
from schemas.topics import GROUP_NORMALIZE, consumer_group
from services.platform import (
    Backpressure,
    BatchConsumer,
    ConsumerGroupSettings,
    SinkStats,
    send_dead_letter,
)
from services.platform.connections import kafka_options
from services.platform.outage import kafka_client_options
from streams.normalize import metrics
from streams.normalize.burst import Prefetched, burst_fetch
from streams.normalize.fetcher import GhlFetcher
from streams.normalize.lanes import Group, Lane
from streams.normalize.mapping import Decoded, Invalid, MissingContact, Skipped, decode, resolve
from streams.normalize.offsets import OffsetTracker, Ticket
from streams.normalize.parked import ParkedStore
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["FetcherFactory", "NormalizeConsumer", "NormalizeStats", "register_normalize"]

log = logging.getLogger(__name__)

FetcherFactory = Callable[[], contextlib.AbstractAsyncContextManager[GhlFetcher]]
"""Opens a fetcher for the consumer's lifetime (and closes its client afterwards)."""


@dataclass
class NormalizeStats(SinkStats):
    """Running totals."""

    records: int = 0
    """Records finished: their events (or dead letters) acknowledged, or skipped."""
    events: int = 0
    fetch_groups: int = 0
    burst_groups: int = 0
    bursts: int = 0
    parks: int = 0


class NormalizeConsumer:
    """Consumes the raw topic until cancelled."""

    def __init__(
        self,
        settings: StreamsSettings,
        fetcher: GhlFetcher,
        *,
        group_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
        concurrency: int | None = None,
        retry_backoff_max: float | None = None,
        parked_store: ParkedStore | None = None,
    ) -> None:
        self._s = settings
        self.topics = topic_names(settings)
        self._fetcher = fetcher
        self._group_id = group_id or consumer_group(settings.app_id, GROUP_NORMALIZE)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._concurrency = concurrency or settings.normalize_location_concurrency
        self._backoff_max = retry_backoff_max or settings.retry_backoff_max
        self._parked_store = parked_store
        self.member = uuid.uuid4().hex[:12]
        self.stats = NormalizeStats()
        self.lanes: dict[str, Lane] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tracker = OffsetTracker()
        self._producer: AIOKafkaProducer | None = None
        self._failed: asyncio.Future[None] | None = None
        self._cache: dict[str, dict[str, Contact]] = {}
        self.consumer: BatchConsumer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Consume until cancelled (or until a produce fails: then raise)."""
        self._failed = asyncio.get_running_loop().create_future()
        self._producer = AIOKafkaProducer(
            **kafka_options(self._s.kafka),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            **kafka_client_options(),
        )
        self.consumer = BatchConsumer(
            ConsumerGroupSettings(
                bootstrap_servers=self._s.kafka,
                group_id=self._group_id,
                topics=(self.topics.raw,),
                batch_size=self._s.batch_size,
                batch_wait=min(self._s.batch_wait, 0.05),
            ),
            self,
        )
        await self._producer.start()
        reading = asyncio.create_task(self.consumer.run(), name="normalize-read")
        reporting = asyncio.create_task(self._report(), name="normalize-report")
        try:
            done, _ = await asyncio.wait(
                {reading, reporting, self._failed}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()
        finally:
            for task in (reading, reporting, *self._runners.values(), *self._tasks):
                task.cancel()
            await asyncio.gather(
                reading, reporting, *self._runners.values(), *self._tasks, return_exceptions=True
            )
            self._runners.clear()
            if self._parked_store is not None:
                with contextlib.suppress(Exception):
                    await self._parked_store.clear(self.member)
            await self._producer.stop()

    # -- the Sink protocol of the batch consumer ---------------------------------------------

    async def assigned(self, partitions: frozenset[TopicPartition]) -> Mapping[TopicPartition, int]:
        """Kafka's committed offsets are the truth here: nothing to seek."""
        return {}

    async def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        """Drop the queued work of the partitions; work in flight finishes harmlessly."""
        self._tracker.forget(partitions)
        for lane in self.lanes.values():
            lane.forget(partitions)

    async def write(self, records: Sequence[Any]) -> None:
        """Queue every record on its location's lane."""
        held = self._tracker.open_count()
        parked = sum(lane.records for lane in self.lanes.values() if lane.parked is not None)
        # Parked records do not count against the working limit (a location waiting for its
        # token must not stop the others), only against a hard one four times as large.
        limit = self._s.normalize_max_pending
        if held - parked >= limit or held >= 4 * limit:
            raise Backpressure(f"{held} records in memory ({parked} parked)", retry_after=0.2)
        woken: set[str] = set()
        for r in records:
            ticket = self._tracker.add(TopicPartition(r.topic, r.partition), r.offset)
            item = decode(r.value, r.key, r.headers, r.offset)
            if isinstance(item, Invalid):
                await self._dead_letter_now(r, item.reason, ticket)
            elif isinstance(item, Skipped):
                self.stats.skipped += 1
                self._finish([ticket])
                log.debug("skipped webhook type=%s offset=%d", item.event_type, r.offset)
            else:
                loc = item.webhook.locationId
                lane = self.lanes.get(loc)
                if lane is None:
                    lane = self.lanes[loc] = Lane(loc)
                lane.put(item, ticket, r, _order_key(r, item))
                woken.add(loc)
        for loc in woken:
            self._wake(loc)

    def confirmed(self) -> Mapping[TopicPartition, int]:
        """Per partition, the oldest record whose events are not yet acknowledged."""
        return self._tracker.confirmed()

    # -- lanes -------------------------------------------------------------------------------

    def _wake(self, loc: str) -> None:
        wake = self._wakes.get(loc)
        if wake is None:
            wake = self._wakes[loc] = asyncio.Event()
        if loc not in self._runners:
            runner = asyncio.create_task(
                self._lane_loop(self.lanes[loc], wake), name=f"normalize-lane-{loc}"
            )
            runner.add_done_callback(self._reap)  # a lane that stops is a bug: stop the consumer
            self._runners[loc] = runner
        wake.set()

    async def _lane_loop(self, lane: Lane, wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            if lane.parked is not None:
                await self._probe(lane)
                continue
            timeout = self._dispatch(lane)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    def _dispatch(self, lane: Lane) -> float | None:
        """Start what the lane's free slots can take; the seconds until a burst may be ready
        (None: wait for news)."""
        s = self._s
        waiting = lane.burstable_waiting()
        burst_mode = lane.bursting or waiting >= s.burst_threshold
        timeout: float | None = None
        if burst_mode and not lane.bursting and lane.running < self._concurrency:
            settled = self._clock() - timedelta(seconds=s.burst_settle_seconds)
            if lane.burstable_settled(settled) >= s.burst_threshold:
                groups = lane.take_burst(settled_before=settled, limit=s.burst_max)
                self._spawn(self._run_burst(lane, groups))
            else:
                timeout = max(s.burst_settle_seconds / 4, 0.01)
        only_burstable = burst_mode and len(lane) == waiting
        while lane.running < self._concurrency and not only_burstable:
            group = lane.take_one(skip_burstable=burst_mode)
            if group is None:
                break
            self._spawn(self._run_one(lane, group))
        return timeout

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._fail(task.exception())  # type: ignore[arg-type]

    def _fail(self, exc: BaseException) -> None:
        if self._failed is not None and not self._failed.done():
            self._failed.set_exception(exc)

    async def _run_one(self, lane: Lane, group: Group) -> None:
        lane.running += 1
        try:
            await self._resolve_group(lane, group, self._fetcher)
        finally:
            lane.busy.discard(group.order_key)
            lane.running -= 1
            self._wake(lane.location_id)

    async def _resolve_group(
        self, lane: Lane, group: Group, fetcher: GhlFetcher, *, probe: bool = False
    ) -> bool:
        """Resolve one group until it is produced or dead-lettered (True), or its location has
        no token (the group goes back to the parked lane; False)."""
        self.stats.fetch_groups += 1
        delay = 0.2
        while True:
            try:
                events = await resolve(group.work, fetcher, self._clock)
            except MissingContact as exc:
                await self._emit(group, [], f"unresolvable: {exc}")
                return True
            except ValidationFailed as exc:
                await self._emit(group, [], f"GHL rejected the fetch: {exc}")
                return True
            except AuthError as exc:
                self._park(lane, group, exc)
                return False
            except GhlError as exc:
                if probe:
                    lane.put_back(group)
                    return False
                first = group.records[0]
                self.stats.retries += 1
                log.warning(
                    "fetch failed, retrying in %.1fs: topic=%s partition=%d offset=%d "
                    "location=%s entity=%s/%s error=%s",
                    delay, first.topic, first.partition, first.offset, lane.location_id,
                    group.work.kind, group.work.entity_id, exc,
                )  # fmt: skip
                await asyncio.sleep(max(delay, float(getattr(exc, "retry_after", 0.0) or 0.0)))
                delay = min(delay * 2, self._backoff_max)
                continue
            await self._emit(group, events, None)
            return True

    # -- bursts ------------------------------------------------------------------------------

    async def _run_burst(self, lane: Lane, groups: list[Group]) -> None:
        lane.running += 1
        lane.bursting = True
        self.stats.bursts += 1
        try:
            await self._burst(lane, groups)
        finally:
            for group in groups:
                lane.busy.discard(group.order_key)
            lane.bursting = False
            lane.running -= 1
            self._wake(lane.location_id)

    async def _burst(self, lane: Lane, groups: list[Group]) -> None:
        s, loc = self._s, lane.location_id
        cache = self._cache.setdefault(loc, {})
        try:
            answers = await burst_fetch(
                self._fetcher,
                loc,
                groups,
                cache=cache,
                clock=self._clock,
                margin=timedelta(seconds=s.burst_window_margin_seconds),
                tolerance=timedelta(seconds=s.burst_stale_tolerance_seconds),
                min_search=s.burst_threshold,
            )
        except AuthError as exc:
            for group in groups:
                self._park(lane, group, exc)
            return
        except GhlError as exc:
            log.warning("burst search failed for location %s (%s); fetching one by one", loc, exc)
            answers = {}
        metrics.BURST_GROUPS.inc(len(groups))
        self.stats.burst_groups += len(groups)
        slots = asyncio.Semaphore(self._concurrency)
        failed_auth: list[Group] = []

        async def fetch_one(group: Group, view: Prefetched) -> None:
            async with slots:
                if lane.parked is not None:
                    failed_auth.append(group)
                    return
                await self._resolve_group(lane, group, view)

        misses = []
        for n, group in enumerate(groups):
            view = Prefetched(self._fetcher, answers.get(id(group)))
            if not view.complete:
                misses.append(asyncio.create_task(fetch_one(group, view)))
                continue
            # Answered: no request. Thousands of these are CPU only, so the loop is given
            # back regularly (other lanes' fetches answer meanwhile).
            await self._resolve_group(lane, group, view)
            if n % 50 == 49:
                await asyncio.sleep(0)
        await asyncio.gather(*misses)
        for group in failed_auth:
            lane.put_back(group)
        if len(cache) > s.burst_max * 2:
            for key in list(cache)[: len(cache) - s.burst_max]:
                del cache[key]

    # -- parking -----------------------------------------------------------------------------

    def _park(self, lane: Lane, group: Group, exc: AuthError) -> None:
        lane.put_back(group)
        if lane.parked is None:
            lane.parked = str(exc)[:300] or "no usable token"
            lane.parked_since = self._clock()
            self.stats.parks += 1
            first = group.records[0]
            log.warning(
                "location %s parked (no usable token: %s); its records wait, first at "
                "topic=%s partition=%d offset=%d",
                lane.location_id, exc, first.topic, first.partition, first.offset,
            )  # fmt: skip

    async def _probe(self, lane: Lane) -> None:
        await asyncio.sleep(self._s.normalize_park_probe_seconds)
        if lane.running:
            return
        group = lane.take_one()
        if group is None:
            self._unpark(lane)
            return
        lane.running += 1
        try:
            ok = await self._resolve_group(lane, group, self._fetcher, probe=True)
        finally:
            lane.busy.discard(group.order_key)
            lane.running -= 1
        if ok:
            self._unpark(lane)

    def _unpark(self, lane: Lane) -> None:
        if lane.parked is not None:
            since = lane.parked_since or self._clock()
            log.info("location %s resumed after %.1fs parked; %d records waiting",
                     lane.location_id, (self._clock() - since).total_seconds(),
                     lane.records)  # fmt: skip
        lane.parked = None
        lane.parked_since = None

    # -- producing ---------------------------------------------------------------------------

    async def _emit(self, group: Group, events: list[Event], letter: str | None) -> None:
        """Produce the group's events (or dead-letter all its records); its records finish
        when Kafka acknowledged everything."""
        assert self._producer is not None
        futures: list[asyncio.Future[Any]] = []
        for event in events:
            futures.append(
                await self._producer.send(
                    self.topics.events, value=encode_event(event), key=event.key.encode()
                )
            )
        if letter is not None:
            for record in group.records:
                log.error(
                    "dead-lettered raw record topic=%s partition=%d offset=%d entity=%s/%s "
                    "reason=%s",
                    record.topic, record.partition, record.offset, group.work.kind,
                    group.work.entity_id, letter,
                )  # fmt: skip
                futures.append(
                    await send_dead_letter(
                        self._producer, self.topics.raw_dead_letters, record, letter
                    )
                )
        tickets = list(group.tickets)
        n_events, n_letters = len(events), len(group.records) if letter is not None else 0

        def acked(done: asyncio.Future[Any]) -> None:
            if done.cancelled():
                return
            exc = done.exception()
            if exc is not None:
                self._fail(exc)
                return
            self.stats.events += n_events
            self.stats.dead_letters += n_letters
            metrics.EVENTS.inc(n_events)
            if n_letters:
                metrics.DEAD_LETTERS.inc(n_letters)
            self._finish(tickets)

        asyncio.gather(*futures).add_done_callback(acked)

    async def _dead_letter_now(self, record: Any, reason: str, ticket: Ticket) -> None:
        assert self._producer is not None
        log.error(
            "dead-lettered raw record topic=%s partition=%d offset=%d reason=%s",
            record.topic, record.partition, record.offset, reason,
        )  # fmt: skip
        future = await send_dead_letter(
            self._producer, self.topics.raw_dead_letters, record, reason
        )

        def acked(done: asyncio.Future[Any]) -> None:
            if done.cancelled():
                return
            if done.exception() is not None:
                self._fail(done.exception())  # type: ignore[arg-type]
                return
            self.stats.dead_letters += 1
            metrics.DEAD_LETTERS.inc()
            self._finish([ticket])

        future.add_done_callback(acked)

    def _finish(self, tickets: list[Ticket]) -> None:
        for ticket in tickets:
            self._tracker.done(ticket)
        self.stats.records += len(tickets)

    # -- reporting ---------------------------------------------------------------------------

    def parked(self) -> dict[str, tuple[int, str, datetime]]:
        """Parked locations: records waiting, reason, since when."""
        return {
            loc: (lane.records, lane.parked, lane.parked_since or self._clock())
            for loc, lane in self.lanes.items()
            if lane.parked is not None
        }

    async def _report(self) -> None:
        """Keeps the metrics and the parked list in PostgreSQL current (every second)."""
        shown: set[str] = set()
        last: dict[str, tuple[int, str, datetime]] | None = None
        while True:
            parked = self.parked()
            for loc in shown - parked.keys():
                metrics.PARKED.labels(location_id=loc).set(0)
            for loc, (records, _reason, _since) in parked.items():
                metrics.PARKED.labels(location_id=loc).set(records)
            shown = set(parked)
            metrics.QUEUED.set(sum(lane.records for lane in self.lanes.values()))
            metrics.IN_MEMORY.set(self._tracker.open_count())
            if self._parked_store is not None and parked != last:
                try:
                    await self._parked_store.replace(self.member, parked)
                    last = parked
                except Exception as exc:  # status only: the next turn retries
                    log.warning("could not record the parked locations: %s", exc)
            await asyncio.sleep(1.0)


def _order_key(record: Any, item: Decoded) -> str:
    """The ordering key of a delivery: its raw record key (`location:contact`)."""
    if record.key:
        return bytes(record.key).decode("utf-8", "replace")
    return f"{item.webhook.locationId}:{item.delivery.webhook_id}"


def register_normalize(
    app: faust.App,
    settings: StreamsSettings,
    *,
    fetcher_factory: FetcherFactory,
    supervise: Callable[[Callable[[], Awaitable[None]]], Awaitable[None]] | None = None,
) -> None:
    """Host the normalize consumer in the Faust worker `app`, reading GHL through the fetchers
    `fetcher_factory` opens (the entry point builds it: `streams.ghl_fetcher`). `supervise`
    (the entry point's outage policy) runs one consumer's lifetime, and may run it again."""
    factory = fetcher_factory

    async def run_once() -> None:
        async with factory() as fetcher, ParkedStore.open(settings) as parked:
            await NormalizeConsumer(settings, fetcher, parked_store=parked).run()

    async def run_normalize() -> None:
        await (supervise(run_once) if supervise is not None else run_once())

    app.task(run_normalize)
