"""Three projection workers (`ghl-sync worker` processes) with members SIGKILLed and added
while 100,000 events flow (issue 13): no worker crashes, the group never stalls (the stored
offsets reach every partition's end), the tables are exact, and the applied ranges tile each
partition: no event applied twice, none skipped.

`test_outage_rebalance_kill.py` does the same with 12,000 events and members in this process;
`test_projection_rebalance.py` covers members leaving cleanly.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from streams.projections.lag import projection_lag
from streams.settings import StreamsSettings
from streams.topics import topic_names
from tests.conftest import StreamsFactory
from tests.factories import encoded, event_stream, produce
from tests.factories.streams import assert_tables_exact, projections_caught_up, streams_env
from tests.factories.waiting import eventually

pytestmark = pytest.mark.integration

GHL_SYNC = Path(sys.executable).with_name("ghl-sync")
EVENTS, SLICES, MEMBERS = 100_000, 5, 3


class _Members:
    """The worker processes, each logging to its own file; the killed ones are remembered."""

    def __init__(self, settings: StreamsSettings, folder: Path) -> None:
        self.settings, self.folder = settings, folder
        self.started: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()

    def live(self) -> list[int]:
        return [n for n in range(len(self.started)) if n not in self.killed]

    def add(self) -> None:
        s = self.settings
        env = {
            "PATH": os.environ.get("PATH", ""),
            **streams_env(s),
            "GHL_SYNC_STREAMS_BATCH_SIZE": str(s.batch_size),
            "GHL_SYNC_STREAMS_PROCESSORS": '["projections"]',
            "GHL_SYNC_STREAMS_METRICS_PORT": "0",
        }
        with self.log(len(self.started)).open("wb") as log:
            command = [str(GHL_SYNC), "worker", "--loglevel", "warning"]
            child = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.started.append(child)

    def kill(self, n: int) -> None:
        self.killed.add(n)
        self.started[n].send_signal(signal.SIGKILL)
        self.started[n].wait(10)

    def log(self, n: int) -> Path:
        return self.folder / f"worker-{n}.log"

    def healthy(self) -> None:
        """Fail with its log when a member not killed has exited."""
        for n in self.live():
            if self.started[n].poll() is not None:
                text = self.log(n).read_text(errors="replace")
                raise AssertionError(f"worker {n} exited {self.started[n].returncode}:\n{text}")

    def stop(self) -> None:
        for child in self.started:
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
            child.wait(10)


async def test_three_workers_killed_and_added_during_100000_events_never_crash_and_are_exact(
    new_streams: StreamsFactory, kafka_bootstrap: str, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = await new_streams(partitions=6, batch_size=3000)
    topic = topic_names(settings).events
    events = list(event_stream(EVENTS, seed=77))
    values, keys = encoded(events)
    rnd = random.Random(13)
    members = _Members(settings, tmp_path)

    async def caught_up() -> bool:
        members.healthy()
        return await projections_caught_up(settings, len(values))

    try:
        members.add()
        members.add()
        step = -(-len(values) // SLICES)
        for i in range(0, len(values), step):
            # A member joins (three at work), events flow, and one member chosen at random
            # is SIGKILLed while it may hold any partition.
            members.add()
            assert len(members.live()) == MEMBERS
            await produce(kafka_bootstrap, topic, values[i : i + step], keys[i : i + step])
            await asyncio.sleep(rnd.uniform(2.0, 5.0))
            members.healthy()
            members.kill(rnd.choice(members.live()))
        assert await eventually(caught_up, within=240, every=0.5), await projection_lag(settings)
    finally:
        members.stop()
    assert len(members.killed) == SLICES
    for n in range(len(members.started)):
        text = members.log(n).read_text(errors="replace")
        assert "Traceback" not in text, f"worker {n}:\n{text}"

    await assert_tables_exact(pg, events, left_name="tables", right_name="spec")

    # The applied ranges tile every partition exactly: no event twice, none skipped.
    spans = await pg.fetch(
        "SELECT partition, from_offset, to_offset, events FROM applied_batches"
        " WHERE topic = $1 ORDER BY partition, from_offset",
        topic,
    )
    ends = {lag.partition: lag.end_offset for lag in await projection_lag(settings)}
    following = dict.fromkeys(ends, 0)
    for span in spans:
        assert span["from_offset"] == following[span["partition"]], dict(span)
        assert span["events"] == span["to_offset"] - span["from_offset"] + 1, dict(span)
        following[span["partition"]] = span["to_offset"] + 1
    assert following == ends
