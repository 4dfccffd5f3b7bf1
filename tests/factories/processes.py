"""`ghl-sync` as a child process of a test: its path, an environment that holds only the
settings the test gives it, a free local port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

__all__ = ["GHL_SYNC", "clean_env", "ended_after", "free_port", "run_ghl_sync"]

_P = TypeVar("_P")

GHL_SYNC = str(Path(sys.executable).with_name("ghl-sync"))
"""The `ghl-sync` entry point of the interpreter running the tests."""


def clean_env(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without its `GHL_SYNC_*` settings, then `env`: a child reads
    only the settings the test names, never the developer's or the CI job's."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GHL_SYNC_")}
    return {**base, **env}


def run_ghl_sync(
    *args: str, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run `ghl-sync ARGS...` in `clean_env(env)` to its end; its exit code is not checked."""
    return subprocess.run(
        [GHL_SYNC, *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ended_after(end: Callable[[_P], object]) -> Iterator[list[_P]]:
    """A fixture's body: the list a test adds the children it starts to; once the test is done,
    `end` is called on each, in the order they were added."""
    started: list[_P] = []
    yield started
    for child in started:
        end(child)
