"""Fixtures for the simulator tests: an in-process simulator, tokens and captured webhooks.

Everything runs over `httpx.ASGITransport` and `httpx.MockTransport`: no sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from simulator_harness import Captured, FakeClock, Sim, SimFactory

from services.simulator import SimulatorSettings, SimulatorState, create_app, seed_state


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    """Build simulators: `await make_sim(contacts=..., **settings)`."""
    made: list[Sim] = []

    async def build(
        *, locations: int = 2, contacts: int = 12, seed: int = 7, **overrides: Any
    ) -> Sim:
        clock = FakeClock()
        options: dict[str, Any] = {
            "seed": seed,
            "webhook_urls": ("https://receiver.example/hooks",),
            "webhook_retry_base_seconds": 0.001,
            "webhook_retry_max_seconds": 0.002,
            "task_create_without_contact_rate": 0.0,
            **overrides,
        }
        settings = SimulatorSettings(**options)
        state: SimulatorState = seed_state(
            seed=seed, locations=locations, contacts_per_location=contacts, clock=clock
        )
        hooks = Captured()
        app = create_app(
            settings, state=state, webhook_transport=httpx.MockTransport(hooks.handler)
        )
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")
        sim = Sim(app, client, clock, hooks, list(state.locations))
        sim.token = (await sim.mint())["access_token"]
        made.append(sim)
        return sim

    yield build
    for sim in made:
        await sim.client.aclose()
        await sim.rt.webhooks.aclose()


@pytest.fixture
async def sim(make_sim: SimFactory) -> Sim:
    """A default simulator: 2 locations of 12 contacts, a token for the first."""
    return await make_sim()
