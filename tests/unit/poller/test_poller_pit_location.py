"""A Private Integration Token and no `GHL_SYNC_POLLER_LOCATIONS`: the poller asks GHL which
location the token sees (`GET /locations/search`, against the simulator) and polls it; a
token GHL does not let list its location is refused in one line naming what to set."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from services.ghl import GhlSettings
from services.poller._pit import PitLocationUnknown, discover_pit_location
from services.simulator import (
    PrivateIntegrationToken,
    SimulatorSettings,
    create_app,
    seed_state,
)
from services.simulator.settings import ALL_SCOPES

READER = "pit-3c1d0a9e-reads-locations"
BLIND = "pit-77aa01f2-no-locations-scope"
WITHOUT_LOCATIONS = tuple(s for s in ALL_SCOPES if s != "locations.readonly")


@pytest.fixture
def simulator() -> tuple[httpx.ASGITransport, list[str]]:
    """Three locations; READER bound to the second with `locations.readonly`, BLIND without."""
    state = seed_state(seed=3, locations=3, contacts_per_location=1)
    locations = list(state.locations)
    settings = SimulatorSettings(
        seed=3,
        webhook_urls=(),
        private_integration_tokens=(
            PrivateIntegrationToken(
                token=SecretStr(READER),
                location_id=locations[1],
                scopes=ALL_SCOPES,
            ),
            PrivateIntegrationToken(
                token=SecretStr(BLIND), location_id=locations[2], scopes=WITHOUT_LOCATIONS
            ),
        ),
    )
    return httpx.ASGITransport(app=create_app(settings, state=state)), locations


def _ghl(token: str) -> GhlSettings:
    return GhlSettings(
        base_url="http://simulator", private_integration_token=SecretStr(token), max_retries=0
    )


async def test_the_token_s_own_location_is_the_one_polled(
    simulator: tuple[httpx.ASGITransport, list[str]],
) -> None:
    transport, locations = simulator
    assert await discover_pit_location(_ghl(READER), transport=transport) == locations[1]


async def test_a_token_without_the_scope_is_refused_naming_scope_and_variable(
    simulator: tuple[httpx.ASGITransport, list[str]],
) -> None:
    transport, _ = simulator
    with pytest.raises(PitLocationUnknown) as refused:
        await discover_pit_location(_ghl(BLIND), transport=transport)
    message = str(refused.value)
    assert "GET /locations/search" in message
    assert "locations.readonly" in message
    assert "GHL_SYNC_POLLER_LOCATIONS='[\"<location id>\"]'" in message
    assert BLIND not in message
    assert "\n" not in message


async def test_an_unknown_token_is_refused_without_showing_it(
    simulator: tuple[httpx.ASGITransport, list[str]],
) -> None:
    transport, _ = simulator
    with pytest.raises(PitLocationUnknown) as refused:
        await discover_pit_location(_ghl("pit-revoked-0000"), transport=transport)
    assert "GHL_SYNC_POLLER_LOCATIONS" in str(refused.value)
    assert "pit-revoked-0000" not in str(refused.value)
