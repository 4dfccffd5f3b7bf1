"""`ghl-sync run` and its supervisor, with real child processes.

`ghl-sync run api webhooks` against the local stack: both answer `/livez`, a killed child is
started again, SIGTERM to `run` leaves no child behind and exits 0; a service that keeps
failing makes `run` give up with status 1 naming it; a child deaf to SIGTERM is killed after
the grace period.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from services.platform.supervise import (
    EXIT_GAVE_UP,
    EXIT_KILLED,
    EXIT_STOPPED,
    Child,
    Supervisor,
)
from tests.conftest import TestSettings
from tests.factories.processes import GHL_SYNC, clean_env, ended_after, free_port

pytestmark = pytest.mark.integration


def _children(parent: int) -> dict[int, str]:
    """pid -> command line of `parent`'s live children (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == parent and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _until(check: Callable[[], bool], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f}s: {what}")
        time.sleep(0.1)


def _live(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


class _Run:
    """`ghl-sync run ...` with its output collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [GHL_SYNC, "run", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def output(self) -> str:
        return "\n".join(self.lines)

    def finish(self, within: float = 30.0) -> int:
        code = self.proc.wait(timeout=within)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def _env(**settings: str) -> dict[str, str]:
    return clean_env(settings)


@pytest.fixture
def runs() -> Iterator[list[_Run]]:
    yield from ended_after(_Run.kill)


def test_run_supervises_restarts_and_stops_its_services(
    test_settings: TestSettings, pg_schema: str, runs: list[_Run]
) -> None:
    api_port, receiver_port = free_port(), free_port()
    prefix = f"run-{os.getpid()}-{time.monotonic_ns()}."
    env = _env(
        GHL_SYNC_DATABASE_URL=test_settings.database_url,
        GHL_SYNC_DATABASE_SCHEMA=pg_schema,
        GHL_SYNC_API_DATABASE_URL=test_settings.database_url,
        GHL_SYNC_API_DATABASE_SCHEMA=pg_schema,
        GHL_SYNC_API_KAFKA_BOOTSTRAP_SERVERS=test_settings.kafka_bootstrap_servers,
        GHL_SYNC_API_TOPIC_PREFIX=prefix,
        GHL_SYNC_API_PORT=str(api_port),
        GHL_SYNC_WEBHOOKS_DATABASE_URL=test_settings.database_url,
        GHL_SYNC_WEBHOOKS_DATABASE_SCHEMA=pg_schema,
        GHL_SYNC_WEBHOOKS_KAFKA_BOOTSTRAP_SERVERS=test_settings.kafka_bootstrap_servers,
        GHL_SYNC_WEBHOOKS_TOPIC_PREFIX=prefix,
        GHL_SYNC_WEBHOOKS_PORT=str(receiver_port),
    )
    run = _Run(["api", "receiver", "--grace", "15"], env)
    runs.append(run)
    api = f"http://127.0.0.1:{api_port}/livez"
    receiver = f"http://127.0.0.1:{receiver_port}/livez"
    _until(lambda: _live(api) and _live(receiver), f"/livez of both\n{run.output()}")

    children = _children(run.proc.pid)
    assert len(children) == 2, children
    (receiver_pid,) = [pid for pid, cmd in children.items() if cmd.endswith(" webhooks ")]
    os.kill(receiver_pid, signal.SIGKILL)
    _until(lambda: run.saw("webhooks restarted"), f"webhooks restarted\n{run.output()}")
    _until(lambda: _live(receiver), f"the new receiver's /livez\n{run.output()}")
    assert run.saw("webhooks exited with signal SIGKILL"), run.output()
    after = _children(run.proc.pid)
    assert receiver_pid not in after, after
    assert len(after) == 2, after
    assert _live(api)

    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == EXIT_STOPPED, run.output()
    for pid in after:
        assert not _alive(pid), (pid, after[pid])
    assert run.saw("stopped (SIGTERM): every service exited"), run.output()
    # One stream, each line named by its service.
    assert any(line.startswith("api        | ") for line in run.lines), run.output()
    assert any(line.startswith("webhooks   | ") for line in run.lines), run.output()


def test_run_gives_up_on_a_service_that_keeps_failing(runs: list[_Run]) -> None:
    # A token key that is not a key: the writer exits at once, every time. JSON logs: every
    # line of the merged stream is a JSON object naming its service.
    run = _Run(
        ["writer", "--give-up-after", "1"],
        _env(
            GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY="not-a-key",
            GHL_SYNC_WRITER_METRICS_PORT="0",
            GHL_SYNC_LOG_FORMAT="json",
        ),
    )
    runs.append(run)
    assert run.finish(within=60) == EXIT_GAVE_UP, run.output()
    records = [json.loads(line) for line in run.lines]
    assert {r["service"] for r in records} == {"writer", "supervisor"}, run.output()
    messages = [r["message"] for r in records]
    assert any("writer exited 1 time in a row" in m for m in messages), run.output()
    assert any("GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY" in m for m in messages), run.output()


async def test_a_child_deaf_to_sigterm_is_killed_after_the_grace_period() -> None:
    lines: list[tuple[str, str]] = []
    deaf = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "sys.stdout.write('no newline at the end')\n"
        "sys.stdout.flush()\n"
        "time.sleep(600)\n"
    )
    polite = "import time\nprint('ready', flush=True)\ntime.sleep(600)\n"
    supervisor = Supervisor(
        [
            Child("deaf", (sys.executable, "-c", deaf)),
            Child("polite", (sys.executable, "-c", polite)),
        ],
        sink=lambda name, line: lines.append((name, line)),
        grace_seconds=1.0,
    )
    await supervisor.start()
    try:
        deadline = time.monotonic() + 30
        while sum(line == "ready" for _, line in lines) < 2:
            assert time.monotonic() < deadline, lines
            await asyncio.sleep(0.05)
        pids = [supervisor.pid("deaf"), supervisor.pid("polite")]
    finally:
        outcome = await supervisor.stop("test")
    assert outcome.exit_code == EXIT_KILLED
    assert outcome.killed == ("deaf",)
    assert not any(pid is not None and _alive(pid) for pid in pids)
    assert supervisor.starts("deaf") == supervisor.starts("polite") == 1
    # A last line without its newline is forwarded when the child ends.
    assert lines[-1] == ("deaf", "no newline at the end"), lines


async def test_a_second_stop_kills_at_once_without_waiting_out_the_grace() -> None:
    deaf = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    lines: list[str] = []
    supervisor = Supervisor(
        [Child("deaf", (sys.executable, "-c", deaf))],
        sink=lambda name, line: lines.append(line),
        grace_seconds=600.0,
    )
    await supervisor.start()
    try:
        deadline = time.monotonic() + 30
        while "ready" not in lines:
            assert time.monotonic() < deadline, lines
            await asyncio.sleep(0.05)
        supervisor.request_stop("first Ctrl-C")
        stopping = asyncio.ensure_future(supervisor.wait())
        await asyncio.sleep(0)  # the shutdown has sent SIGTERM and waits
        assert not stopping.done()
        supervisor.request_stop("second Ctrl-C")
        # Far inside the 600 s grace: the second stop did not wait it out.
        outcome = await asyncio.wait_for(stopping, timeout=60)
    finally:
        supervisor.request_stop("test over")
        supervisor.request_stop("test over")
    assert outcome.reason == "first Ctrl-C"
    assert outcome.killed == ("deaf",)
    assert outcome.exit_code == EXIT_KILLED
    assert "SIGKILL to deaf: a second stop was asked" in lines


def test_children_get_sigterm_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "supervisor.py"
    script.write_text(
        "import asyncio, sys\n"
        "from services.platform.supervise import Child, Supervisor\n"
        "async def main():\n"
        "    child = Child('sleeper', (sys.executable, '-c', 'import time; time.sleep(600)'))\n"
        "    supervisor = Supervisor([child])\n"
        "    await supervisor.start()\n"
        "    print(supervisor.pid('sleeper'), flush=True)\n"
        "    await supervisor.wait()\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()  # SIGKILL: the supervisor stops nothing itself
        parent.wait()
        _until(lambda: not _alive(child), "the orphaned child to get SIGTERM and exit", 30)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        assert parent.stdout is not None
        parent.stdout.close()
