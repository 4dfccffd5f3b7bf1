"""The demo's child services: `ghl-sync <command>` under the supervisor `ghl-sync run` uses
(`services.platform.supervise`), each logged to its own file, restarted if it exits, stopped
together (SIGTERM, then SIGKILL after the grace period)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from services.platform.supervise import Child, Supervisor, ghl_sync_command

__all__ = ["Service", "start_service"]


class Service:
    """One `ghl-sync` subcommand the demo's supervisor runs, its log in a file."""

    def __init__(self, name: str, supervisor: Supervisor, log_path: Path) -> None:
        self.name = name
        self.supervisor = supervisor
        self.log_path = log_path

    @property
    def running(self) -> bool:
        """Whether the child is alive."""
        return self.supervisor.running(self.name)

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


async def start_service(
    supervisor: Supervisor,
    name: str,
    args: list[str],
    env: Mapping[str, str],
    log_dir: Path,
) -> Service:
    """Start `ghl-sync ARGS...` as child `name` of `supervisor`, its output in
    `log_dir/name.log`."""
    log_path = log_dir / f"{name}.log"
    # Children get this process's environment plus their own settings.
    child_env = {**os.environ, **env}
    await supervisor.add(Child(name, ghl_sync_command(*args), child_env, log_path))
    return Service(name, supervisor, log_path)
