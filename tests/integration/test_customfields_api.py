"""Custom fields by key in the read API and the command API: definitions synced from the
simulator into PostgreSQL, the seeded contacts in the projection, the API on the real broker.
Python's typing of the same values (`read_values`) is the oracle of every filter."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from schemas import Contact
from schemas.canonical import canonical_contact
from services.api.settings import ApiSettings
from services.customfields import DefinitionSync, read_values
from services.customfields.store import load_definitions
from services.simulator import SimulatorSettings, seed_state
from services.simulator import create_app as create_simulator
from tests.conftest import TestSettings
from tests.factories.api import api_http
from tests.factories.ghl import SIM, mint_tokens, simulator_client

pytestmark = pytest.mark.integration


async def _project(conn: asyncpg.Connection, location_id: str, contacts: list[Any]) -> None:
    """The contacts as the projection holds them (typed columns, GHL's JSON in `data`)."""
    await conn.executemany(
        "INSERT INTO contacts (location_id, id, email, assigned_to, tags, date_added,"
        " date_updated, data, version, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $9)",
        [
            (
                location_id,
                c.id,
                c.email,
                c.assignedTo,
                c.tags or [],
                c.dateAdded,
                c.dateUpdated,
                json.dumps(c.model_dump(mode="json", exclude_none=True)),
                f"e-{c.id}",
            )
            for c in contacts
        ],
    )


@pytest.fixture
async def world(
    test_settings: TestSettings, pg_schema: str, kafka_bootstrap: str
) -> AsyncIterator[dict[str, Any]]:
    state = seed_state(seed=11, locations=1, contacts_per_location=60)
    loc = next(iter(state.locations))
    data = state.locations[loc]
    sim = httpx.ASGITransport(app=create_simulator(SimulatorSettings(seed=11), state=state))
    async with httpx.AsyncClient(transport=sim, base_url=SIM) as admin:
        tokens = await mint_tokens(admin, [loc])
    client, _ = simulator_client(sim, tokens[loc])
    pool = await asyncpg.create_pool(
        test_settings.database_url, server_settings={"search_path": pg_schema}
    )
    contacts = [canonical_contact(c) for c in data.contacts.values()]
    # Two values the definitions cannot type: an id no field has, an option no field offers.
    first = contacts[0].model_dump(mode="json", exclude_none=True)
    first["customFields"] = [
        *first.get("customFields", []),
        {"id": "unknownFieldId0001", "value": "kept"},
    ]
    odd = canonical_contact(Contact.model_validate(first))
    second = contacts[1].model_dump(mode="json", exclude_none=True)
    second["customFields"] = [{"id": data.custom_fields["membership_level"], "value": "Platinum"}]
    bad = canonical_contact(Contact.model_validate(second))
    contacts = [odd, bad, *contacts[2:]]
    api = ApiSettings(
        api_keys=[SecretStr("k")],
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        topic_partitions=1,
        database_url=SecretStr(test_settings.database_url),
        database_schema=pg_schema,
    )
    try:
        sync = DefinitionSync(pool, client.list_custom_fields)
        outcome = await sync.sync(loc, reason="onboarding")
        assert (outcome.fields, outcome.error) == (8, None)
        async with pool.acquire() as conn:
            await _project(conn, loc, contacts)
        definitions = await load_definitions(pool, loc)
        async with api_http(api, "k") as http:
            yield {
                "http": http, "loc": loc, "pool": pool, "contacts": contacts,
                "definitions": definitions, "ids": data.custom_fields,
            }  # fmt: skip
    finally:
        await client.aclose()
        await pool.close()


def _typed(world: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """contact id → its custom values by key, as Python types them."""
    return {
        c.id: read_values(
            world["definitions"], [v.model_dump() for v in c.customFields or []]
        ).by_key
        for c in world["contacts"]
    }


async def _ids(http: httpx.AsyncClient, **params: Any) -> set[str]:
    response = await http.get("/v1/contacts", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return {item["contact"]["id"] for item in response.json()["items"]}


async def test_the_view_and_the_list_show_custom_values_by_key_typed(
    world: dict[str, Any],
) -> None:
    http, contacts = world["http"], world["contacts"]
    typed = _typed(world)
    rich = next(c for c in contacts if "deal_value" in typed[c.id])
    view = (await http.get(f"/v1/contacts/{rich.id}")).json()
    custom = view["custom_fields"]
    assert isinstance(custom["lead_score"], int)
    assert date.fromisoformat(custom["renewal_date"]) == typed[rich.id]["renewal_date"]
    assert isinstance(custom["deal_value"], float)
    assert str(custom["deal_value"]).endswith(".5")
    assert isinstance(custom["interests"], list)
    assert custom["interests"]
    assert custom["consents"] == ["Newsletter"]
    assert view["unknown_custom_fields"] == view["invalid_custom_fields"] == []
    assert view["contact"]["customFields"] == [
        v.model_dump(mode="json") for v in rich.customFields or []
    ]  # GHL's own shape stays

    odd = (await http.get(f"/v1/contacts/{contacts[0].id}")).json()
    assert odd["unknown_custom_fields"] == [{"id": "unknownFieldId0001", "value": "kept"}]
    bad = (await http.get(f"/v1/contacts/{contacts[1].id}")).json()
    assert "membership_level" not in bad["custom_fields"]
    [invalid] = bad["invalid_custom_fields"]
    assert (invalid["key"], invalid["value"]) == ("membership_level", "Platinum")
    assert "membership_level" in invalid["reason"]
    assert "Platinum" in invalid["reason"]

    page = (await http.get("/v1/contacts", params={"limit": 500})).json()["items"]
    assert len(page) == len(contacts)
    for item in page:
        expected = typed[item["contact"]["id"]]
        listed = item["custom_fields"]
        assert set(listed) == set(expected) - (
            {"membership_level"} if item["contact"]["id"] == contacts[1].id else set()
        )
        assert listed.get("lead_score") == expected.get("lead_score")


async def test_lists_filter_on_custom_fields_by_value_and_range(world: dict[str, Any]) -> None:
    http = world["http"]
    typed = _typed(world)

    def where(test: Any) -> set[str]:
        return {cid for cid, values in typed.items() if test(values)}

    score = next(v["lead_score"] for v in typed.values() if "lead_score" in v)
    assert await _ids(http, **{"custom.lead_score": str(score)}) == where(
        lambda v: v.get("lead_score") == score
    )
    assert await _ids(http, **{"custom.lead_score.gte": "30", "custom.lead_score.lt": "70"}) == (
        where(lambda v: "lead_score" in v and 30 <= v["lead_score"] < 70)
    )
    low, high = date(2026, 3, 1), date(2026, 6, 30)
    dated = await _ids(
        http, **{"custom.renewal_date.gt": low.isoformat(), "custom.renewal_date.lte": "2026-06-30"}
    )
    assert dated == where(lambda v: "renewal_date" in v and low < v["renewal_date"] <= high)
    assert dated
    gold = await _ids(http, **{"custom.membership_level": "Gold", "location_id": world["loc"]})
    assert gold == where(lambda v: v.get("membership_level") == "Gold")
    assert gold
    sms = await _ids(http, **{"custom.interests": "SMS"})
    assert sms == where(lambda v: "SMS" in v.get("interests", []))
    money = await _ids(http, **{"custom.deal_value.gt": "1000"})
    assert money == where(lambda v: v.get("deal_value", 0) > 1000)

    for params, named in (
        ({"custom.nope": "1"}, "'nope'"),
        ({"custom.lead_score": "high"}, "'high'"),
        ({"custom.renewal_date.gt": "2026-02-30"}, "'2026-02-30'"),
        ({"custom.membership_level": "Platinum"}, "'Platinum'"),
        ({"custom.favorite_color.gt": "red"}, "'favorite_color'"),
    ):
        refused = await http.get("/v1/contacts", params=params)
        assert refused.status_code == 422, (params, refused.text)
        message = refused.json()["message"]
        assert named in message, message
        key = next(iter(params)).split(".")[1]
        assert repr(key) in message, message


async def test_commands_name_custom_fields_by_key_and_get_their_ids(
    world: dict[str, Any],
) -> None:
    http, pool, ids, loc = world["http"], world["pool"], world["ids"], world["loc"]
    contact_id = world["contacts"][3].id

    def update(command_id: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "command_id": command_id, "command_type": "contact.update", "location_id": loc,
            "contact_id": contact_id, "payload": {"customFields": fields},
        }  # fmt: skip

    accepted = await http.post(
        "/v1/commands",
        json=update(
            "cf-ok",
            [
                {"key": "lead_score", "field_value": "42"},
                {"key": "renewal_date", "field_value": "2026-05-01"},
                {"key": "interests", "field_value": ["SMS", "Events"]},
                {"key": "favorite_color", "field_value": None},
                {"id": ids["deal_value"], "field_value": "99.95"},
            ],
        ),
    )
    assert accepted.status_code == 202, accepted.text
    stored = json.loads(
        await pool.fetchval("SELECT command::text FROM writer_commands WHERE command_id = 'cf-ok'")
    )
    assert stored["payload"]["customFields"] == [
        {"id": ids["lead_score"], "field_value": 42},
        {"id": ids["renewal_date"], "field_value": "2026-05-01"},
        {"id": ids["interests"], "field_value": ["SMS", "Events"]},
        {"id": ids["favorite_color"], "field_value": ""},
        {"id": ids["deal_value"], "field_value": 99.95},
    ]

    for n, (fields, named) in enumerate(
        (
            ([{"key": "shoe_size", "field_value": 9}], ("'shoe_size'",)),
            ([{"key": "lead_score", "field_value": "lots"}], ("'lead_score'", "'lots'")),
            ([{"key": "renewal_date", "field_value": "soon"}], ("'renewal_date'", "'soon'")),
            ([{"key": "membership_level", "field_value": "Platinum"}], ("'Platinum'",)),
            ([{"id": ids["lead_score"], "field_value": "x"}], ("'lead_score'", "'x'")),
        )
    ):
        refused = await http.post("/v1/commands", json=update(f"cf-bad-{n}", fields))
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert body["code"] == "invalid_custom_field"
        assert all(part in body["message"] for part in named), body["message"]
    batch = await http.post(
        "/v1/commands/batch",
        json={"commands": [update("cf-b1", []), update("cf-b2", [{"key": "nope"}])]},
    )
    assert batch.status_code == 422
    assert "commands[" in batch.json()["message"]
    assert await pool.fetchval("SELECT count(*) FROM writer_commands") == 1  # nothing else kept
