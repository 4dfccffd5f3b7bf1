"""The command API in process: its app with the lifespan entered, and an HTTP client that
sends an API key."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from services.api import ApiSettings, create_app

__all__ = ["API", "api_http"]

API = "http://api.test"
"""The base URL the API answers on through `httpx.ASGITransport`."""


@contextlib.asynccontextmanager
async def api_http(settings: ApiSettings, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of `create_app(settings)`, lifespan entered, sending `X-API-Key: key`;
    closed, and the lifespan left, afterwards."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=API, headers={"X-API-Key": key}
        ) as http:
            yield http
