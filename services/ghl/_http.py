"""The one place an httpx client is built; `transport=` swaps the network for a mock or an app."""

from __future__ import annotations

import httpx

from services.ghl.settings import GhlSettings

__all__ = ["new_http_client"]

_USER_AGENT = "ghl-sync/0.1 (+httpx)"


def new_http_client(
    settings: GhlSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for GHL's API host with the settings' timeouts and pool."""
    return httpx.AsyncClient(
        base_url=settings.base_url,
        transport=transport,
        timeout=httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.write_timeout,
            pool=settings.pool_timeout,
        ),
        limits=httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_connections,
        ),
        headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
        follow_redirects=False,
    )
