"""Process bookkeeping shared by the stack's servers: pid files, ports, memory."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from services.stack.exceptions import EphemeralPort

__all__ = [
    "EPHEMERAL_FALLBACK",
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
