"""The garbage collector's pace in the projections' processes.

Decoding allocates a dict per event and a few per row, none of them in a reference cycle:
reference counting frees them all. At the collector's default pace (a young collection
every 700 allocations, an older one every 10 young ones, a full one every 10 of those) one
worker made ~1,000 collections per 100,000 events, a few of them full ones walking every
object of the process (Faust, the models, the Kafka client): measured at 1.07 CPU-s per
100,000 events, a quarter of the worker's CPU. Freezing what exists once the process has
started takes it out of every later collection, and a young collection every 50,000
allocations still collects the few cycles asyncio makes (a task and the exception it holds)
within a batch or two.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["collect_batch_garbage", "pace_collector"]

_THRESHOLDS: Final = (50_000, 20, 100)


def pace_collector() -> None:
    """Freeze the objects alive now and collect young objects at a batch's pace.

    Process-wide: called where a projection consumer or a rebuild process starts. Calling
    it again freezes what was created since, and never lowers a threshold set higher.
    """
    gc.freeze()
    if gc.get_threshold()[0] < _THRESHOLDS[0]:
        gc.set_threshold(*_THRESHOLDS)


_BATCHES_PER_COLLECTION: Final = 8
_applied = 0


def collect_batch_garbage() -> None:
    """Collect the young generations every 8 batches: called once a batch is applied.

    The Kafka client leaves cycles behind that hold fetched bytes: when a partition is paused
    it drops the records it fetched ahead for it, and a dropped partition's records and the
    generator reading them refer to each other. Nearly everything else is freed by reference
    counting, so the paced threshold is hardly ever reached (twice in 200,000 events) and
    the cycles waited for dozens of batches. A collection walks the objects of about one
    batch, ~8 ms for 5,000 events: once per batch that was 0.17 CPU-s per 100,000 events.
    Measured with `bench/vs_connect.py --sink none` (200,000 events, batches of 5,000): while
    the projection consumer paused its partitions most batches, the worker's peak RSS was
    172 MiB collecting every batch, 176 MiB every 2 and 254 MiB every 8; since it waits for
    room instead (`ProjectionConsumer.write`), pauses are rare and every 8 batches measured
    141-148 MiB.
    """
    global _applied
    _applied += 1
    if _applied % _BATCHES_PER_COLLECTION == 0:
        gc.collect(1)
