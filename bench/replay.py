"""Replay benchmark: `replay` of 1,000,000 events, swap included, run several times.

Runs against the local stack (`ghl-sync stack up`), Kafka and PostgreSQL on this machine.

    .venv/bin/python bench/replay.py [--events 1000000] [--runs 3] [--workers N]
        [--batch-size 5000] [--private-broker] [--load-nice 19]

Produces the `tests/factories.py` mix (seed 2) once to a fresh `ghl.events.v1` (6
partitions), then runs `streams.projections.replay.replay` on it `--runs` times: each run
rebuilds every table from offset zero in processes sharing the partitions (`--workers`,
default one per core) and swaps the result in atomically. Prints the wall time of each run
(rebuild, catch-up and swap), its events per second, the CPU seconds of this process and of
its rebuild processes (children), and the load average beside it; then the median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import projections
from bench.outage import PrivateBroker
from bench.projections import _drop, _fresh, _load, _loadavg
from streams.projections.replay import replay


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument(
        "--private-broker",
        action="store_true",
        help="a broker of its own on free ports (the shared one holds thousands of topics)",
    )
    parser.add_argument(
        "--load-nice",
        type=int,
        default=0,
        help="niceness while producing the events (back to 0 before replaying; needs root)",
    )
    args = parser.parse_args()
    if not args.private_broker:
        await _bench(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-replay-broker-") as folder:
        broker = PrivateBroker(Path(folder))
        await broker.start()
        projections.BOOTSTRAP = broker.bootstrap  # read by _fresh and _load when called
        print(f"private broker at {broker.bootstrap}")
        try:
            await _bench(args)
        finally:
            await broker.stop()


async def _bench(args: argparse.Namespace) -> None:
    settings = await _fresh("replay")
    try:
        os.setpriority(os.PRIO_PROCESS, 0, args.load_nice)
        seconds = await _load(settings, args.events, seed=2)
        # The rebuild processes are spawned by replay and inherit this priority.
        os.setpriority(os.PRIO_PROCESS, 0, 0)
        print(f"produced {args.events:,} events in {seconds:.0f}s; {os.cpu_count()} cores")
        walls = []
        for run in range(args.runs):
            cpu0, started = _cpu(), time.perf_counter()
            report = await replay(settings, batch_size=args.batch_size, workers=args.workers)
            wall = time.perf_counter() - started
            cpu = _cpu() - cpu0
            walls.append(wall)
            print(
                f"run {run + 1}: {report.events:,} events in {wall:.1f}s wall "
                f"({report.events / wall:,.0f} events/s; rebuild {report.seconds:.1f}s), "
                f"client CPU {cpu:.1f}s, swapped={report.swapped}, loadavg {_loadavg()}",
                flush=True,
            )
        print(f"median wall {sorted(walls)[len(walls) // 2]:.1f}s")
    finally:
        await _drop(settings)


if __name__ == "__main__":
    asyncio.run(main())
