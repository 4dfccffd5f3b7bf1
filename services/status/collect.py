"""Gathering a `StatusReport`: read PostgreSQL and Kafka, then put the figures together.

`assemble` is pure (snapshots in, report out) and unit-tested; `collect_status` does the I/O.

Where the figures come from:

- normalize's position on `ghl.raw.v1`: the offsets its Kafka group committed
  (`{app_id}-normalize`, committed only after a batch's events were acknowledged);
- the projections' position on `ghl.events.v1`: `consumer_offsets` (written in the same
  transaction as the rows), under `projection_consumer`;
- lag = the partition's end offset minus that position (minus the log start when the consumer
  never committed: it begins at the earliest record);
- dead letters: records in each `*.dlq.v1` topic (end minus start offsets);
- the last webhook per location: the newest record time among the last
  `webhook_scan_per_partition` records of each `ghl.raw.v1` partition (the receiver's
  receipts table has no location column).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.db.settings import DatabaseSettings
from services.ghl.settings import GhlSettings
from services.poller.settings import PollerSettings
from services.status._broker import BrokerSnapshot, read_broker
from services.status._database import DatabaseSnapshot, read_database
from services.status._installs import read_installs
from services.status.report import (
    BudgetState,
    DeadLetters,
    LocationStatus,
    PartitionLag,
    StatusReport,
)
from streams.settings import StreamsSettings
from streams.topics import TopicNames, topic_names

__all__ = ["StatusSources", "assemble", "collect_status", "normalize_group"]


@dataclass(frozen=True)
class StatusSources:
    """The settings `status` reads, built once by the command."""

    streams: StreamsSettings
    database: DatabaseSettings
    ghl: GhlSettings
    poller: PollerSettings
    webhook_scan_per_partition: int = 500


def normalize_group(streams: StreamsSettings) -> str:
    """The Kafka group under which normalize commits its `ghl.raw.v1` offsets."""
    return f"{streams.app_id}-normalize"


def _dead_letter_topics(topics: TopicNames) -> list[str]:
    return [t for t in topics.all() if t.endswith(".dlq.v1")]


def _lag(
    consumer: str,
    topic: str,
    broker: BrokerSnapshot,
    positions: dict[tuple[str, int], int],
) -> list[PartitionLag]:
    out = []
    for p in broker.partitions.get(topic, ()):
        end = broker.ends[(topic, p)]
        committed = positions.get((topic, p))
        start = committed if committed is not None else broker.beginnings[(topic, p)]
        out.append(
            PartitionLag(
                consumer=consumer,
                topic=topic,
                partition=p,
                end_offset=end,
                committed_offset=committed,
                lag=max(end - start, 0),
            )
        )
    return out


def _unused_budget(ghl: GhlSettings) -> BudgetState:
    return BudgetState(
        window_requests=ghl.rate_limit_requests,
        window_seconds=ghl.rate_limit_interval,
        window_left=ghl.rate_limit_requests,
        daily_limit=ghl.rate_limit_daily,
        daily_left=ghl.rate_limit_daily,
        next_slot_in_seconds=0.0,
    )


def assemble(sources: StatusSources, db: DatabaseSnapshot, broker: BrokerSnapshot) -> StatusReport:
    """The report from what was read."""
    topics = topic_names(sources.streams)
    group = normalize_group(sources.streams)
    locations = sorted(
        set(sources.poller.locations)
        | set(db.tokens)
        | set(db.budgets)
        | set(db.pollers)
        | set(db.backfills)
        | set(db.contacts)
        | set(db.plans)
        | set(broker.last_seen)
    )
    per_location = tuple(
        LocationStatus(
            location_id=loc,
            poller=db.pollers.get(loc),
            backfill=db.backfills.get(loc),
            token=db.tokens.get(loc),
            # A location the ledger has no row for has spent nothing of its budget yet.
            budget=db.budgets.get(loc)
            or (_unused_budget(sources.ghl) if loc in db.tokens else None),
            last_webhook_at=broker.last_seen.get(loc),
            contacts_live=db.contacts.get(loc, (0, 0))[0],
            contacts_deleted=db.contacts.get(loc, (0, 0))[1],
            plan=db.plans.get(loc),
        )
        for loc in locations
    )
    lag = [
        *_lag("normalize", topics.raw, broker, dict(broker.group_offsets.get(group, {}))),
        *_lag(sources.streams.projection_consumer, topics.events, broker, dict(db.offsets)),
    ]
    dead_letters = tuple(
        DeadLetters(
            topic=t,
            exists=t in broker.partitions,
            count=sum(
                broker.ends[(t, p)] - broker.beginnings[(t, p)]
                for p in broker.partitions.get(t, ())
            ),
        )
        for t in _dead_letter_topics(topics)
    )
    return StatusReport(
        collected_at=db.now,
        topic_prefix=sources.streams.topic_prefix,
        locations=per_location,
        lag=tuple(lag),
        dead_letters=dead_letters,
        tables=db.tables,
        webhooks=db.webhooks,
        webhook_scan_per_partition=sources.webhook_scan_per_partition,
        commands=dict(db.commands) if db.commands is not None else None,
        parked=db.parked,
    )


async def collect_status(sources: StatusSources) -> StatusReport:
    """Read PostgreSQL (one consistent snapshot) and Kafka, and assemble the report.

    The database is read first: a position stored before the broker's end offsets are read
    can only make the lag look larger than it is, never negative.
    """
    topics = topic_names(sources.streams)
    conn = await asyncpg.connect(
        sources.database.url.get_secret_value(),
        timeout=10,
        server_settings={"search_path": sources.database.schema_name},
    )
    try:
        db = await read_database(
            conn,
            projection_consumer=sources.streams.projection_consumer,
            events_topic=topics.events,
            daily_quota=sources.poller.daily_quota,
        )
        companies, installs = await read_installs(conn)
    finally:
        await conn.close()
    broker = await read_broker(
        sources.streams.kafka,
        [topics.raw, topics.events, *_dead_letter_topics(topics)],
        groups={normalize_group(sources.streams): topics.raw},
        webhook_topic=topics.raw,
        scan_per_partition=sources.webhook_scan_per_partition,
    )
    report = assemble(sources, db, broker)
    return report.model_copy(update={"companies": companies, "installs": installs})
