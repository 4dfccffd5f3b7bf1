"""Coroutines a test runs in the background for as long as it needs them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

__all__ = ["running"]


@contextlib.asynccontextmanager
async def running(*runs: Coroutine[Any, Any, Any]) -> AsyncIterator[list[asyncio.Task[Any]]]:
    """Each of `runs` as a task (the list, in order, for a test to check on); on the way out
    every task is cancelled and awaited, whatever it raised."""
    tasks = [asyncio.create_task(run) for run in runs]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
