"""`Batcher`: gathers concurrent calls into one call, e.g. one database statement for many
requests (the API's command records, the receiver's receipt claims and confirmations)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher"]

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class Batcher(Generic[_In, _Out]):
    """Calls `run(items)` for everything submitted while the previous call ran (after `wait`
    seconds more, at most `max_items` at once; one call at a time), so N concurrent requests
    cost about one round trip instead of N.

    A failing call fails each of its waiters and the next batch is still run; cancelled
    while it runs, its waiters are cancelled too.
    """

    def __init__(
        self,
        run: Callable[[Sequence[_In]], Awaitable[Sequence[_Out]]],
        *,
        max_items: int | None = None,
        wait: float = 0.0,
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
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                if self._wait:
                    await asyncio.sleep(self._wait)
                cut = len(self._queue) if self._max is None else self._max
                batch, self._queue = self._queue[:cut], self._queue[cut:]
                try:
                    results = await self._run([item for item, _ in batch])
                except asyncio.CancelledError:
                    for _, future in batch:
                        future.cancel()
                    raise
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._worker = None
