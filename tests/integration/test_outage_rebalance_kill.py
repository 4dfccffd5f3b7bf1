"""Projection members SIGKILLed and added while events flow (issue 13: a killed member's
partitions must move within seconds, and no member may crash at the rebalance): one member
in this process, the others separate processes, up to three at once. No member crashes, the
group never stalls (the stored offsets reach the topic's end), and the tables are exact.

`test_projection_rebalance.py` covers members leaving cleanly; this one covers the member
that cannot leave (its partitions move only when its 6 s session expires).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from streams.projections.consumer import ProjectionConsumer
from streams.projections.lag import projection_lag
from streams.topics import topic_names
from tests.conftest import StreamsFactory
from tests.factories import encoded, event_stream, produce
from tests.factories.streams import assert_tables_exact, projections_caught_up, streams_env
from tests.factories.waiting import eventually

pytestmark = pytest.mark.integration

PARTITIONS = 6
MEMBER = (
    "import asyncio\n"
    "from streams.projections.consumer import ProjectionConsumer\n"
    "from streams.settings import StreamsSettings\n"
    "asyncio.run(ProjectionConsumer(StreamsSettings()).run())\n"
)


async def test_members_killed_and_added_never_crash_never_stall_and_the_tables_are_exact(
    new_streams: StreamsFactory, kafka_bootstrap: str, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = await new_streams(
        partitions=PARTITIONS,
        batch_size=500,  # small batches: many applies in flight when partitions move
    )
    topic = topic_names(settings).events
    env = {
        **os.environ,
        **streams_env(settings),
        "GHL_SYNC_STREAMS_BATCH_SIZE": "500",
    }
    children: list[subprocess.Popen[bytes]] = []

    def spawn() -> subprocess.Popen[bytes]:
        with (tmp_path / f"member-{len(children)}.log").open("wb") as log:
            child = subprocess.Popen(
                [sys.executable, "-c", MEMBER], env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        children.append(child)
        return child

    def output(n: int) -> str:
        return (tmp_path / f"member-{n}.log").read_text(errors="replace")

    local = ProjectionConsumer(settings)
    task = asyncio.create_task(local.run())

    def healthy() -> None:
        if task.done():
            task.result()  # a crashed member fails the test with its error
        for n, child in enumerate(children):
            if child is not killed and child.poll() is not None:
                raise AssertionError(f"member {n} exited {child.returncode}:\n{output(n)}")

    async def holding(at_most: int) -> bool:
        healthy()
        assigned = local.consumer.assignment if local.consumer else frozenset()
        return 0 < len(assigned) <= at_most

    killed: subprocess.Popen[bytes] | None = None
    events = list(event_stream(12_000, seed=33))
    values, keys = encoded(events)
    third = len(values) // 3
    try:
        assert await eventually(lambda: holding(PARTITIONS), within=60)
        await produce(kafka_bootstrap, topic, values[:third], keys[:third])
        spawn(), spawn()
        # Three members: this one holds two partitions.
        assert await eventually(lambda: holding(2), within=60), "the members did not join"
        await produce(kafka_bootstrap, topic, values[third : 2 * third], keys[third : 2 * third])
        assignments = local.consumer.assignments if local.consumer else 0
        killed = children[0]
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        spawn()  # a new member joins while the killed one's session runs out
        await produce(kafka_bootstrap, topic, values[2 * third :], keys[2 * third :])

        async def caught_up() -> bool:
            healthy()
            return await projections_caught_up(settings)

        assert await eventually(caught_up, within=90), await projection_lag(settings)
        healthy()
        assert local.consumer is not None
        assert local.consumer.assignments > assignments  # the kill and the join moved partitions
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
            child.wait(10)
    for n in range(len(children)):
        assert "Traceback" not in output(n), output(n)
    await assert_tables_exact(pg, events)
