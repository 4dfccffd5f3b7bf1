"""A pure ASGI middleware that finishes every answer: rate-limit headers and stalls.

The route's guard leaves its findings in the request state (`ratelimit_headers`,
`stall_seconds`); this layer adds the headers to whatever answer goes out, errors included,
and, for a stall, swallows the real answer after the change was applied, waits, and sends 504.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.simulator._errors import ApiError

__all__ = ["ResponseFinisher"]


class ResponseFinisher:
    """Adds `X-RateLimit-*` headers and carries out stalls."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        swallowed = False

        def extra_headers() -> list[tuple[bytes, bytes]]:
            headers: dict[str, str] = state.get("ratelimit_headers") or {}
            return [(k.lower().encode(), v.encode()) for k, v in headers.items()]

        async def finish(message: Message) -> None:
            nonlocal swallowed
            if swallowed:
                return
            if message["type"] == "http.response.start":
                stall = state.get("stall_seconds")
                if stall is not None:
                    # The operation already ran; the client only loses the answer.
                    swallowed = True
                    await asyncio.sleep(stall)
                    body = json.dumps(ApiError(504, "Gateway Timeout").body()).encode()
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 504,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                *extra_headers(),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
                message = {**message, "headers": [*message.get("headers", []), *extra_headers()]}
            await send(message)

        await self.app(scope, receive, finish)
