"""Custom field definitions synced from the simulator into PostgreSQL and used to type the
seeded contacts' values by key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest

from services.customfields import values_by_key
from services.customfields.store import load_definitions, sync_definitions
from services.simulator import SimulatorSettings, create_app, seed_state

pytestmark = pytest.mark.integration


async def test_definitions_sync_and_type_the_seeded_values(pg: asyncpg.Connection) -> None:
    state = seed_state(seed=5, locations=1, contacts_per_location=10)
    app = create_app(SimulatorSettings(seed=5), state=state)
    loc = next(iter(state.locations))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as http:
        minted = await http.post("/_admin/tokens", json={"locationId": loc})
        assert minted.status_code == 200, minted.text
        headers = {
            "Authorization": f"Bearer {minted.json()['access_token']}",
            "Version": "2021-07-28",
        }

        async def fetch(location_id: str) -> Sequence[Mapping[str, Any]]:
            response = await http.get(f"/locations/{location_id}/customFields", headers=headers)
            response.raise_for_status()
            fields: list[Mapping[str, Any]] = response.json()["customFields"]
            return fields

        assert await sync_definitions(pg, loc, fetch) == 8
        assert await sync_definitions(pg, loc, fetch) == 8  # a repeat replaces, never adds
    definitions = await load_definitions(pg, loc)
    assert [d.key for d in definitions] == [
        "about", "consents", "deal_value", "favorite_color", "interests", "lead_score",
        "membership_level", "renewal_date",
    ]  # fmt: skip
    contact = next(c for c in state.locations[loc].contacts.values() if c.customFields)
    values, unknown = values_by_key(
        definitions, [cf.model_dump() for cf in contact.customFields or []]
    )
    assert unknown == []
    assert isinstance(values["lead_score"], int)
    assert isinstance(values["renewal_date"], date)
