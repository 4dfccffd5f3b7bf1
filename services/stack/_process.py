"""Process bookkeeping shared by the stack's servers: pid files, ports, memory, and `Server`,
their shared way of telling whether one runs and serves."""

from __future__ import annotations

import os
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from services.stack.exceptions import EphemeralPort, StartFailed

__all__ = [
    "EPHEMERAL_FALLBACK",
    "Server",
    "alive",
    "cmdline",
    "ephemeral_range",
    "port_open",
    "pss_bytes",
    "read_pid",
    "refuse_ephemeral",
    "rss_bytes",
    "stop_pid",
    "tail",
    "wait_until",
]


EPHEMERAL_FALLBACK = (32768, 60999)
"""Linux's default `net.ipv4.ip_local_port_range`."""

_Status = TypeVar("_Status")


class Server(ABC, Generic[_Status]):
    """One of the stack's servers: the pid it runs as, a question only a serving server
    answers, and its status built from both."""

    name: ClassVar[str]
    """How errors name the server."""
    log_file: Path

    @abstractmethod
    def running_pid(self) -> int | None:
        """The pid of the server this stack started, if it still runs."""

    @abstractmethod
    def _ask(self) -> str:
        """A client's question to the server; its answer is the status' detail."""

    @abstractmethod
    def _status(self, pid: int | None, healthy: bool, detail: str) -> _Status:
        """The status of the server running as `pid` (None: not running)."""

    def status(self) -> _Status:
        """Version, address, pid, memory and health of the server."""
        pid = self.running_pid()
        healthy, detail = self.probe() if pid is not None else (False, "not running")
        return self._status(pid, healthy, detail)

    def probe(self) -> tuple[bool, str]:
        """Whether the server answers a client (the proof that it serves), and the answer."""
        try:
            return True, self._ask()
        except Exception as exc:  # any client failure means "not serving"; the text says why
            return False, f"{type(exc).__name__}: {exc}"

    def _fail_after(self, deadline: float, timeout: float) -> None:
        """Raise `StartFailed`, with the log's last lines, once `deadline` (`time.monotonic()`)
        has passed while waiting up to `timeout` seconds for the server to serve."""
        if time.monotonic() >= deadline:
            raise StartFailed(self.name, f"not serving after {timeout:.0f}s", tail(self.log_file))


def ephemeral_range(
    source: Path = Path("/proc/sys/net/ipv4/ip_local_port_range"),
) -> tuple[int, int]:
    """The kernel's range of ephemeral (source) ports, low and high, inclusive."""
    try:
        low, high = (int(x) for x in source.read_text().split()[:2])
    except (OSError, ValueError):
        return EPHEMERAL_FALLBACK
    return low, high


def refuse_ephemeral(what: str, variable: str, port: int, suggestion: int) -> None:
    """Raise `EphemeralPort` when `port` lies in the kernel's ephemeral range.

    A listening port in that range can be taken by any outgoing connection as its source
    port (a client reconnecting to the broker, say) while the server is down, and the server
    then cannot start again until that socket is closed.
    """
    low, high = ephemeral_range()
    if low <= port <= high:
        raise EphemeralPort(
            f"{what} would listen on port {port} ({variable}), inside the kernel's ephemeral "
            f"port range {low}-{high} (net.ipv4.ip_local_port_range): any outgoing connection "
            f"may take that port as its source port while {what} is down, and {what} could "
            f"not start again until that connection closes. Pick a port outside the range, "
            f"e.g. {variable}={suggestion}."
        )


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in `pid_file`, or None when there is none."""
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Whether a process with this pid exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state != "Z"


def cmdline(pid: int) -> str:
    """The command line of a process, arguments joined by spaces ('' when gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process in bytes, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def pss_bytes(pid: int) -> int | None:
    """Proportional memory of a process in bytes: shared pages split among their users.

    Summing RSS over a PostgreSQL cluster counts its shared buffers once per backend; summing
    PSS counts them once.
    """
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll `check` until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_pid(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM a process (its shutdown hooks run), then SIGKILL it if it lingers."""
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    if not wait_until(lambda: not alive(pid), timeout):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            return
        wait_until(lambda: not alive(pid), 5.0)


def tail(path: Path, lines: int = 60) -> str:
    """The last `lines` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
