"""Test harness for the simulator: a fake clock, captured webhooks, a simulator handle, the
simulators a test opened."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from services.simulator import SimulatorSettings, SimulatorState, create_app
from services.simulator.runtime import Runtime

CONTACTS_V = {"Version": "2021-07-28"}
CALENDARS_V = {"Version": "2021-04-15"}
QUICK_WEBHOOKS: dict[str, Any] = {
    "webhook_urls": ("https://receiver.example/hooks",),
    "webhook_retry_base_seconds": 0.001,
    "webhook_retry_max_seconds": 0.002,
}
"""Simulator settings: webhooks to one receiver, retried after milliseconds, not seconds."""


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Captured:
    """Webhook requests the simulator sent; `status` decides the answers."""

    requests: list[httpx.Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def types(self) -> list[str]:
        return [b["type"] for b in self.bodies()]


@dataclass
class Sim:
    """One running simulator and a client for it."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: FakeClock
    hooks: Captured
    locations: list[str]
    token: str = ""

    @property
    def rt(self) -> Runtime:
        rt = self.app.state.simulator
        assert isinstance(rt, Runtime)
        return rt

    @property
    def loc(self) -> str:
        return self.locations[0]

    def headers(
        self, token: str | None = None, version: dict[str, str] = CONTACTS_V
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}", **version}

    async def mint(self, location: str | None = None, **body: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/_admin/tokens", json={"locationId": location or self.loc, **body}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def contact_id(self) -> str:
        return next(iter(self.rt.state.locations[self.loc].contacts))


SimFactory = Callable[..., Awaitable[Sim]]


class Simulators:
    """The simulators a test opened, each with an in-process client; `aclose` closes them all."""

    def __init__(self) -> None:
        self._opened: list[tuple[FastAPI, httpx.AsyncClient]] = []

    def open(
        self,
        settings: SimulatorSettings,
        state: SimulatorState,
        webhook_transport: httpx.AsyncBaseTransport,
    ) -> tuple[FastAPI, httpx.AsyncClient]:
        """A simulator app on `state` and a client that reaches it through `ASGITransport`."""
        app = create_app(settings, state=state, webhook_transport=webhook_transport)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")
        self._opened.append((app, client))
        return app, client

    async def aclose(self) -> None:
        for app, client in self._opened:
            await client.aclose()
            await app.state.simulator.webhooks.aclose()
