"""Fixtures for the simulator tests: an in-process simulator, tokens and captured webhooks.

Everything runs over `httpx.ASGITransport` and `httpx.MockTransport`: no sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from simulator_harness import QUICK_WEBHOOKS, Captured, FakeClock, Sim, SimFactory, Simulators

from services.simulator import SimulatorSettings, SimulatorState, seed_state


@pytest.fixture
async def simulators() -> AsyncIterator[Simulators]:
    """Open simulators in process; closed when the test ends."""
    opened = Simulators()
    yield opened
    await opened.aclose()


@pytest.fixture
def make_sim(simulators: Simulators) -> SimFactory:
    """Build simulators: `await make_sim(contacts=..., **settings)`."""

    async def build(
        *, locations: int = 2, contacts: int = 12, seed: int = 7, **overrides: Any
    ) -> Sim:
        clock = FakeClock()
        options: dict[str, Any] = {
            "seed": seed,
            **QUICK_WEBHOOKS,
            "task_create_without_contact_rate": 0.0,
            **overrides,
        }
        state: SimulatorState = seed_state(
            seed=seed, locations=locations, contacts_per_location=contacts, clock=clock
        )
        hooks = Captured()
        app, client = simulators.open(
            SimulatorSettings(**options), state, httpx.MockTransport(hooks.handler)
        )
        sim = Sim(app, client, clock, hooks, list(state.locations))
        sim.token = (await sim.mint())["access_token"]
        return sim

    return build


@pytest.fixture
async def sim(make_sim: SimFactory) -> Sim:
    """A default simulator: 2 locations of 12 contacts, a token for the first."""
    return await make_sim()
