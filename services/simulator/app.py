"""`create_app`: one simulator, its routes, admin endpoints and background machinery.

Background work (webhook deliveries) runs on the serving event loop. The activity generator
runs only under a server with lifespan events (uvicorn) and `activity_rate > 0`; tests drive it
through `POST /_admin/activity`. On shutdown, pending deliveries are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from services.simulator import (
    admin,
    admin_agency,
    admin_bulk,
    oauth,
    oauth_agency,
    routes_calendars,
    routes_contact_extras,
    routes_contacts,
    routes_contacts_search,
    routes_custom_fields,
    routes_locations,
    routes_tasks_notes,
)
from services.simulator._errors import install_error_handlers
from services.simulator.activity import ActivityGenerator
from services.simulator.agency import AppInstalls
from services.simulator.faults import FaultInjector
from services.simulator.middleware import ResponseFinisher
from services.simulator.ratelimit import RateLimiter
from services.simulator.runtime import Runtime
from services.simulator.seed import seed_state
from services.simulator.settings import SimulatorSettings
from services.simulator.state import SimulatorState
from services.simulator.tokens import TokenStore
from services.simulator.webhooks import WebhookDispatcher, WebhookSigner

__all__ = ["create_app"]


def create_app(
    settings: SimulatorSettings,
    *,
    state: SimulatorState | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """A GHL simulator app; `state` defaults to `seed_state` of the settings' seed and sizes."""
    if state is None:
        state = seed_state(
            seed=settings.seed,
            locations=settings.locations,
            contacts_per_location=settings.contacts_per_location,
            allow_duplicates=settings.allow_duplicate_contacts,
            duplicate_priority=settings.duplicate_priority,
        )
    faults = FaultInjector(settings.faults, seed=settings.seed)
    signer = WebhookSigner(settings)
    webhooks = WebhookDispatcher(
        settings, clock=state.now, faults=faults, signer=signer, transport=webhook_transport
    )
    state.subscribe(webhooks.publish)
    state.search_lag_seconds = settings.search_lag_seconds
    tokens = TokenStore(settings, state.now)
    rt = Runtime(
        settings=settings,
        state=state,
        tokens=tokens,
        limiter=RateLimiter(settings, state.now),
        faults=faults,
        signer=signer,
        webhooks=webhooks,
        activity=ActivityGenerator(state, seed=settings.seed),
        installs=AppInstalls(settings, state=state, tokens=tokens, webhooks=webhooks),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        generator = None
        if settings.activity_rate > 0:
            generator = asyncio.create_task(rt.activity.run(settings.activity_rate))
        try:
            yield
        finally:
            if generator is not None:
                generator.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await generator
            await webhooks.aclose()

    app = FastAPI(
        title="GHL simulator",
        description="A stand-in for GoHighLevel's API v2; admin endpoints under /_admin.",
        lifespan=lifespan,
    )
    app.state.simulator = rt
    install_error_handlers(app)
    for module in (
        routes_contacts_search,
        routes_contact_extras,
        routes_custom_fields,
        routes_locations,
        routes_tasks_notes,
        routes_calendars,
        routes_contacts,
        oauth,
        oauth_agency,
        admin,
        admin_agency,
        admin_bulk,
    ):
        app.include_router(module.router)
    app.add_middleware(ResponseFinisher)
    return app
