"""The demo's child services: started as `ghl-sync <command>`, logged, stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["Service"]


class Service:
    """One `ghl-sync` subcommand running as a child process with its log in a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        # Children get this process's environment plus their own settings.
        self.env = {**os.environ, **env}
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the child (its stdout and stderr go to the log file)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        executable = Path(sys.executable).with_name("ghl-sync")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(executable), *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def running(self) -> bool:
        """Whether the child is alive."""
        return self.proc is not None and self.proc.poll() is None

    async def wait_http(self, url: str, within: float = 60.0) -> None:
        """Wait until `url` answers 2xx; fail with the log's tail if the child died."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if not self.running:
                    raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
                try:
                    if (await client.get(url)).is_success:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready after {within:.0f}s:\n{self.tail()}")
                await asyncio.sleep(0.3)

    def tail(self, lines: int = 30) -> str:
        """The last lines of the child's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
