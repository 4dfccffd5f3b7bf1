"""Waiting in a test for something no event announces: asking again until it holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["eventually"]


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
