"""Supervised child processes: what `ghl-sync run` and `ghl-sync demo` start.

A `Supervisor` starts each `Child` (a command line and its environment) as the leader of a
process group of its own, so a Ctrl-C in the terminal reaches the supervisor alone and the
supervisor decides the order of the shutdown. On Linux each child also gets SIGTERM should the
supervisor die without stopping it (`PR_SET_PDEATHSIG`).

- Output: every line a child prints (stdout and stderr) goes to one `sink(name, line)`, which
  `ghl-sync run` prints prefixed with the child's name; a child given a `log_path` appends to
  that file instead (the demo keeps one log per service). The supervisor's own notices (a
  child exited, restarts, gives up, is killed) go to `notice(line)`.
- Restarts: a child that exits while nobody asked it to is started again after a backoff that
  doubles from `restart_backoff` to `restart_backoff_max`, and starts over once the child has
  lived `stable_seconds`. A child that exits `give_up_after` times in a row, each time sooner
  than `stable_seconds` after its start (a bad setting, a busy port), makes the supervisor give
  up: it stops every child and its outcome says which one and how it last exited.
- Stopping: `request_stop(reason)` (safe from a signal handler) or `stop()`. Every child's
  process group gets SIGTERM; whatever is left after `grace_seconds` gets SIGKILL, at once
  if a second stop is requested meanwhile (a second Ctrl-C).

`Outcome.exit_code`: `EXIT_STOPPED` (0) stopped on request and every child exited within the
grace period; `EXIT_GAVE_UP` (1) a child kept failing; `EXIT_KILLED` (3) stopped on request,
but a child had to be killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_GAVE_UP",
    "EXIT_KILLED",
    "EXIT_STOPPED",
    "Child",
    "Outcome",
    "Supervisor",
    "ghl_sync_command",
]

EXIT_STOPPED = 0
EXIT_GAVE_UP = 1
EXIT_KILLED = 3

_CHUNK = 65536


def ghl_sync_command(*args: str) -> tuple[str, ...]:
    """The command line of `ghl-sync ARGS...` with this interpreter's installation."""
    script = Path(sys.executable).with_name("ghl-sync")
    if script.exists():
        return (str(script), *args)
    # No console script beside the interpreter (an unusual install): run the entry point.
    return (sys.executable, "-c", "from services.cli import main; main()", *args)


@dataclass(frozen=True)
class Child:
    """One supervised command: `argv`, its whole environment (None: the supervisor's), and
    optionally a file its output is appended to instead of the sink."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None
    log_path: Path | None = None


@dataclass(frozen=True)
class Outcome:
    """How supervision ended."""

    reason: str
    exit_code: int
    failed: str | None = None
    """The child that kept failing, when the supervisor gave up."""
    killed: tuple[str, ...] = ()
    """Children that outlived the grace period and got SIGKILL."""


@dataclass
class _State:
    spec: Child
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    starts: int = 0
    quick_exits: int = 0
    last_status: int | None = None
    pump: asyncio.Task[None] | None = None
    keeper: asyncio.Task[None] | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)


def _status(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the call took effect
            os._exit(1)

    return hook


class Supervisor:
    """Starts, restarts and stops `children`; see the module docstring."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        sink: Callable[[str, str], None] | None = None,
        notice: Callable[[str], None] | None = None,
        grace_seconds: float = 10.0,
        restart_backoff: float = 1.0,
        restart_backoff_max: float = 30.0,
        stable_seconds: float = 30.0,
        give_up_after: int = 5,
    ) -> None:
        names = [c.name for c in children]
        if len(set(names)) != len(names):
            raise ValueError(f"child names repeat: {names}")
        self._children = {c.name: _State(c) for c in children}
        self._sink = sink or (lambda name, line: None)
        self._notice = notice or (lambda line: self._sink("supervisor", line))
        self._grace = grace_seconds
        self._backoff = restart_backoff
        self._backoff_max = restart_backoff_max
        self._stable = stable_seconds
        self._give_up_after = give_up_after
        self._stopping = asyncio.Event()
        self._hurry = asyncio.Event()
        self._reason = ""
        self._failed: str | None = None
        self._outcome: Outcome | None = None
        self._preexec = _parent_death_signal()

    # -- what callers read ---------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The children's names, in start order."""
        return list(self._children)

    def pid(self, name: str) -> int | None:
        """The pid of the child's current process, None while it is not running."""
        proc = self._children[name].proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def running(self, name: str) -> bool:
        """Whether the child's current process is alive."""
        return self.pid(name) is not None

    def starts(self, name: str) -> int:
        """How many times the child was started (1 + restarts)."""
        return self._children[name].starts

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested (or the supervisor gave up)."""
        return self._stopping.is_set()

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start every child (in order) and keep each one running."""
        for state in self._children.values():
            if self._stopping.is_set():
                break
            await self._spawn(state)
            state.keeper = asyncio.create_task(self._keep(state), name=f"keep:{state.spec.name}")

    async def add(self, child: Child) -> None:
        """Start one more child and keep it running (the demo starts its services in turn)."""
        if child.name in self._children:
            raise ValueError(f"a child named {child.name} is supervised already")
        if self._stopping.is_set():
            raise RuntimeError(f"not starting {child.name}: the supervisor is stopping")
        state = self._children[child.name] = _State(child)
        await self._spawn(state)
        state.keeper = asyncio.create_task(self._keep(state), name=f"keep:{child.name}")

    def request_stop(self, reason: str) -> None:
        """Ask for the shutdown; `wait()` carries it out. Asked again, the children still
        running get SIGKILL without waiting out the grace period."""
        if not self._stopping.is_set():
            self._reason = reason
            self._stopping.set()
        else:
            self._hurry.set()

    async def wait(self) -> Outcome:
        """Supervise until a stop is requested or a child keeps failing; then stop every
        child (SIGTERM, SIGKILL after the grace period) and say how it ended."""
        if self._outcome is not None:
            return self._outcome
        await self._stopping.wait()
        killed = await self._shutdown()
        code = EXIT_KILLED if killed else EXIT_STOPPED
        if self._failed is not None:
            code = EXIT_GAVE_UP
        self._outcome = Outcome(self._reason, code, failed=self._failed, killed=tuple(killed))
        return self._outcome

    async def stop(self, reason: str = "stopped") -> Outcome:
        """Request the shutdown and wait for it."""
        self.request_stop(reason)
        return await self.wait()

    async def __aenter__(self) -> Supervisor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop("leaving")

    # -- internals -----------------------------------------------------------------------

    async def _spawn(self, state: _State) -> None:
        spec = state.spec
        options: dict[str, Any] = {
            "stdin": asyncio.subprocess.DEVNULL,
            "stderr": asyncio.subprocess.STDOUT,
            "env": dict(spec.env) if spec.env is not None else None,
            "start_new_session": True,
            "preexec_fn": self._preexec,
        }
        state.exited = asyncio.Event()
        if spec.log_path is not None:
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            with spec.log_path.open("ab") as log:
                state.proc = await asyncio.create_subprocess_exec(*spec.argv, stdout=log, **options)
            state.pump = None
        else:
            state.proc = await asyncio.create_subprocess_exec(
                *spec.argv, stdout=asyncio.subprocess.PIPE, **options
            )
            state.pump = asyncio.create_task(self._pump(spec.name, state.proc))
        state.started_at = time.monotonic()
        state.starts += 1

    async def _pump(self, name: str, proc: asyncio.subprocess.Process) -> None:
        """Forward the child's output line by line (a partial last line at its end)."""
        assert proc.stdout is not None
        rest = b""
        while chunk := await proc.stdout.read(_CHUNK):
            *lines, rest = (rest + chunk).split(b"\n")
            for line in lines:
                self._sink(name, line.rstrip(b"\r").decode(errors="replace"))
        if rest:
            self._sink(name, rest.rstrip(b"\r").decode(errors="replace"))

    async def _keep(self, state: _State) -> None:
        backoff = self._backoff
        while True:
            assert state.proc is not None
            code = await state.proc.wait()
            if state.pump is not None:
                await state.pump
            state.last_status = code
            state.exited.set()
            if self._stopping.is_set():
                return
            lived = time.monotonic() - state.started_at
            if lived >= self._stable:
                state.quick_exits, backoff = 0, self._backoff
            else:
                state.quick_exits += 1
            name = state.spec.name
            if state.quick_exits >= self._give_up_after:
                self._failed = name
                self.request_stop(
                    f"{name} exited {state.quick_exits} time{'s' if state.quick_exits > 1 else ''}"
                    " in a row within "
                    f"{self._stable:.0f}s of its start (last: {_status(code)}); giving up"
                )
                self._notice(self._reason)
                return
            self._notice(
                f"{name} exited with {_status(code)} after {lived:.1f}s; "
                f"restarting in {backoff:.1f}s"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
            if self._stopping.is_set():
                return
            backoff = min(backoff * 2, self._backoff_max)
            try:
                await self._spawn(state)
            except OSError as exc:
                self._failed = name
                self.request_stop(f"{name} could not be started again: {exc}")
                self._notice(self._reason)
                return
            if self._stopping.is_set():  # asked while it was starting: the shutdown missed it
                self._signal(state, signal.SIGTERM)
            else:
                self._notice(f"{name} restarted (pid {state.proc.pid})")

    def _signal(self, state: _State, sig: signal.Signals) -> None:
        proc = state.proc
        if proc is None or proc.returncode is not None:
            return
        # The whole group: a child's own children go with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    async def _shutdown(self) -> list[str]:
        states = list(self._children.values())
        alive = [s for s in states if s.proc is not None and s.proc.returncode is None]
        if alive:
            self._notice(
                f"stopping ({self._reason}): SIGTERM to {', '.join(s.spec.name for s in alive)}"
            )
        for state in reversed(alive):
            self._signal(state, signal.SIGTERM)
        # A keeper ends once its child exited (a stop is requested); one restarting its
        # child at this moment signals the new process itself.
        keepers = [s.keeper for s in states if s.keeper is not None]
        killed: list[str] = []
        if keepers:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._grace
            hurry = asyncio.ensure_future(self._hurry.wait())
            try:
                while not hurry.done():
                    left = deadline - loop.time()
                    waiting = [task for task in keepers if not task.done()]
                    if not waiting or left <= 0:
                        break
                    await asyncio.wait(
                        [*waiting, hurry], timeout=left, return_when=asyncio.FIRST_COMPLETED
                    )
            finally:
                hurry.cancel()
            pending = {task for task in keepers if not task.done()}
            if pending:
                for state in states:
                    if state.proc is not None and state.proc.returncode is None:
                        killed.append(state.spec.name)
                        self._signal(state, signal.SIGKILL)
                if killed:
                    why = (
                        "a second stop was asked"
                        if self._hurry.is_set()
                        else f"still running after {self._grace:.0f}s"
                    )
                    self._notice(f"SIGKILL to {', '.join(killed)}: {why}")
                await asyncio.wait(pending)
        return killed
