"""Waiting in a test for something no event announces: asking again until it holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["eventually", "until"]


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    within: float,
    every: float = 0.25,
    tolerating: tuple[type[Exception], ...] = (),
) -> bool:
    """Whether `check()` comes true within `within` seconds, asked every `every` seconds; an
    error of the `tolerating` kinds counts as "not yet" (a server still starting)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await check():
                return True
        except tolerating:
            pass
        await asyncio.sleep(every)
    return False


async def until(
    check: Callable[[], Awaitable[bool]], *, within: float = 60.0, every: float = 0.1
) -> None:
    """Return once `check()` is true, asked every `every` seconds; `TimeoutError` after
    `within` seconds (for the waits a test cannot go on without)."""
    async with asyncio.timeout(within):
        while True:  # polls Kafka or the tables: there is no event to wait on
            if await check():
                return
            await asyncio.sleep(every)
