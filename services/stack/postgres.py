"""A PostgreSQL cluster of the stack's own, from the system's PostgreSQL server binaries.

The cluster lives under the state folder and listens on its own port and socket folder, so
it never touches another PostgreSQL on the machine. PostgreSQL refuses to run as root; when
the stack is started by root, the server runs as the `postgres` system account instead.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.stack import _process
from services.stack.exceptions import MissingDependency, MovedPort, PortBusy, StartFailed
from services.stack.settings import StackSettings

__all__ = ["PostgresServer", "PostgresStatus", "find_bin_dir"]

_DEBIAN_PACKAGE = "postgresql"


@dataclass(frozen=True)
class PostgresStatus:
    """What `status` shows of the database server."""

    version: str
    url: str
    pid: int | None
    running: bool
    healthy: bool
    rss_bytes: int | None
    """Memory of the whole cluster: the PSS of the postmaster and its backends."""
    detail: str


def find_bin_dir(configured: Path | None) -> Path | None:
    """The folder with `initdb` and `pg_ctl`: configured, Debian's newest, or on PATH."""
    if configured is not None:
        return configured if (configured / "initdb").exists() else None
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


class PostgresServer(_process.Server[PostgresStatus]):
    """Installs (when missing), initialises, starts, checks and stops the stack's cluster."""

    name = "PostgreSQL"

    def __init__(self, settings: StackSettings) -> None:
        self._s = settings
        self.home = settings.root / "postgres"
        self.data = self.home / "data"
        self.sockets = self.home / "run"
        self.log_file = self.home / "postgres.log"

    # -- installation ------------------------------------------------------------------

    def bin_dir(self, install: bool = True) -> Path:
        """Where the server binaries are; installs Debian's package when missing and allowed."""
        found = find_bin_dir(self._s.postgres_bin_dir)
        if found is None and install and os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for command in (
                ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", _DEBIAN_PACKAGE],
            ):
                subprocess.run(command, check=False, env=env, capture_output=True)
            found = find_bin_dir(self._s.postgres_bin_dir)
        if found is None:
            raise MissingDependency(
                "PostgreSQL server binaries (initdb, pg_ctl) were not found: install them with "
                f"`apt-get install {_DEBIAN_PACKAGE}` or set GHL_SYNC_STACK_POSTGRES_BIN_DIR"
            )
        return found

    def version(self) -> str:
        """The server's version as `postgres --version` prints it."""
        try:
            done = subprocess.run(
                [str(self.bin_dir(install=False) / "postgres"), "--version"],
                capture_output=True,
                text=True,
                check=False,
            )
        except MissingDependency:
            return "not installed"
        # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> "15.18"
        words = done.stdout.split()
        return words[2] if len(words) > 2 else "unknown"

    # -- lifecycle ---------------------------------------------------------------------

    def running_pid(self) -> int | None:
        """The postmaster's pid when this stack's cluster runs."""
        pid_file = self.data / "postmaster.pid"
        try:
            first = pid_file.read_text().splitlines()[0]
        except (FileNotFoundError, IndexError, PermissionError):
            return None
        pid = int(first) if first.strip().isdigit() else None
        if pid is None or not _process.alive(pid):
            return None
        return pid

    def running_port(self) -> int | None:
        """The port the running cluster listens on (from its `postmaster.pid`)."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        # postmaster.pid: pid, data directory, start time, port, ...
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def start(self) -> bool:
        """Initialise (once), start, and create the database; False when it already ran.

        The cluster's data does not depend on its port (it is given on the command line), so
        a cluster made under another port starts on the configured one with its data."""
        if self.running_pid() is not None:
            running_on = self.running_port()
            if running_on is not None and running_on != self._s.postgres_port:
                raise MovedPort(
                    f"the stack's PostgreSQL runs on port {running_on} but "
                    f"GHL_SYNC_STACK_POSTGRES_PORT is {self._s.postgres_port}: run "
                    "`ghl-sync stack down` and `ghl-sync stack up` to move it (its data stays)"
                )
            self._wait_ready(time.monotonic() + self._s.postgres_start_timeout)
            self._create_database()
            return False
        _process.refuse_ephemeral(
            "PostgreSQL", "GHL_SYNC_STACK_POSTGRES_PORT", self._s.postgres_port, 25432
        )
        if _process.port_open(self._s.host, self._s.postgres_port):
            raise PortBusy(
                f"port {self._s.host}:{self._s.postgres_port} is in use by a process this stack "
                "did not start; stop it or set GHL_SYNC_STACK_POSTGRES_PORT"
            )
        bin_dir = self.bin_dir()
        self.home.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.home)
        if not (self.data / "PG_VERSION").exists():
            self._run_as_owner(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    self._s.postgres_user,
                    # Local development stack: only loopback and its own socket may connect.
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                "initdb failed",
            )
        self._run_as_owner(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log_file),
                "-o",
                self._server_options(),
                "-w",
                "-t",
                str(int(self._s.postgres_start_timeout)),
                "start",
            ],
            "pg_ctl start failed",
        )
        self._wait_ready(time.monotonic() + self._s.postgres_start_timeout)
        self._create_database()
        return True

    def stop(self) -> bool:
        """Stop this stack's cluster (fast shutdown); False when it did not run."""
        if self.running_pid() is None:
            return False
        self._run_as_owner(
            [
                str(self.bin_dir(install=False) / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            "pg_ctl stop failed",
        )
        return True

    def _ask(self) -> str:
        # A query over TCP, as the services connect.
        return asyncio.run(_server_version(self._s.database_url.rsplit("/", 1)[0] + "/postgres"))

    def _status(self, pid: int | None, healthy: bool, detail: str) -> PostgresStatus:
        return PostgresStatus(
            version=self.version(),
            url=self._s.database_url,
            pid=pid,
            running=pid is not None,
            healthy=healthy,
            rss_bytes=self._cluster_rss(pid) if pid else None,
            detail=detail,
        )

    # -- internals ---------------------------------------------------------------------

    def _server_options(self) -> str:
        return (
            f"-p {self._s.postgres_port} -h {self._s.host} -k {self.sockets} "
            "-c shared_buffers=128MB -c max_connections=200 -c fsync=on"
        )

    def _owner(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(self._s.postgres_os_user)
        except KeyError as exc:
            raise MissingDependency(
                f"running as root, the stack needs the system account "
                f"{self._s.postgres_os_user!r} to run PostgreSQL (Debian's package creates it)"
            ) from exc

    def _hand_over(self, path: Path) -> None:
        owner = self._owner()
        if owner is None:
            return
        # initdb and pg_ctl create everything below as the owner; only these two need handing.
        for item in (path, self.sockets):
            os.chown(item, owner.pw_uid, owner.pw_gid)

    def _run_as_owner(self, command: list[str], what: str) -> None:
        owner = self._owner()
        if owner is not None:
            # util-linux puts it in /usr/sbin, which a root shell's PATH may leave out.
            runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
            if runuser is None:
                raise StartFailed("PostgreSQL", f"{what}: runuser (util-linux) is not installed")
            command = [runuser, "-u", owner.pw_name, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.home)
        if done.returncode != 0:
            raise StartFailed(
                "PostgreSQL",
                what,
                (done.stdout + done.stderr).strip() + "\n" + _process.tail(self.log_file, 30),
            )

    def _wait_ready(self, deadline: float) -> None:
        while not self.probe()[0]:
            self._fail_after(deadline, self._s.postgres_start_timeout)
            time.sleep(0.2)

    def _create_database(self) -> None:
        admin_url = self._s.database_url.rsplit("/", 1)[0] + "/postgres"
        asyncio.run(_ensure_database(admin_url, self._s.postgres_database))

    def _cluster_rss(self, postmaster: int) -> int | None:
        # The server is many processes sharing its buffers: PSS counts those pages once.
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            pid = int(stat.parent.name)
            if pid == postmaster or int(fields[1]) == postmaster:
                total += _process.pss_bytes(pid) or 0
        return total or None


async def _server_version(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return f"PostgreSQL {version} serving"


async def _ensure_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Identifiers cannot be bound as parameters; quote_ident makes the name safe.
            quoted = await conn.fetchval("SELECT quote_ident($1)", name)
            await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()
