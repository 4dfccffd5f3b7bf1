"""`Batcher`: gathers concurrent calls into one database statement."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher"]

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class Batcher(Generic[_In, _Out]):
    """Calls `run(items)` for everything submitted while the previous call ran (or within
    `wait` seconds), so N concurrent requests cost about one round trip instead of N."""

    def __init__(
        self,
        run: Callable[[Sequence[_In]], Awaitable[Sequence[_Out]]],
        *,
        max_items: int = 1000,
        wait: float = 0.001,
    ) -> None:
        self._run = run
        self._max = max_items
        self._wait = wait
        self._queue: list[tuple[_In, asyncio.Future[_Out]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: _In) -> _Out:
        """The result of `run` for this item."""
        future: asyncio.Future[_Out] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(self._wait)
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            try:
                results = await self._run([item for item, _ in batch])
            except Exception as exc:  # every waiter gets the failure; the next batch retries
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
