"""Custom field definitions served as `apps/locations.json` says; seeded contacts carry values
of each definition's type."""

from __future__ import annotations

from simulator_harness import Sim


async def test_definitions_list_and_single_field(sim: Sim) -> None:
    response = await sim.client.get(f"/locations/{sim.loc}/customFields", headers=sim.headers())
    assert response.status_code == 200, response.text
    fields = {f["fieldKey"]: f for f in response.json()["customFields"]}
    assert set(fields) >= {
        "contact.membership_level", "contact.favorite_color", "contact.lead_score",
        "contact.renewal_date",
    }  # fmt: skip
    level = fields["contact.membership_level"]
    assert level["dataType"] == "SINGLE_OPTIONS"
    assert level["picklistOptions"] == ["Gold", "Silver", "Bronze"]
    assert fields["contact.lead_score"]["dataType"] == "NUMERICAL"
    assert fields["contact.renewal_date"]["dataType"] == "DATE"
    assert all(f["locationId"] == sim.loc and f["model"] == "contact" for f in fields.values())

    one = await sim.client.get(
        f"/locations/{sim.loc}/customFields/{level['id']}", headers=sim.headers()
    )
    assert one.status_code == 200
    assert one.json() == {"customField": level}
    missing = await sim.client.get(f"/locations/{sim.loc}/customFields/nope", headers=sim.headers())
    assert missing.status_code == 400
    opportunity = await sim.client.get(
        f"/locations/{sim.loc}/customFields", params={"model": "opportunity"}, headers=sim.headers()
    )
    assert opportunity.json() == {"customFields": []}
    other = sim.locations[1]
    assert (
        await sim.client.get(f"/locations/{other}/customFields", headers=sim.headers())
    ).status_code in (400, 401, 403)


async def test_seeded_contacts_carry_typed_values(sim: Sim) -> None:
    defs = (
        await sim.client.get(f"/locations/{sim.loc}/customFields", headers=sim.headers())
    ).json()["customFields"]
    types = {f["id"]: f for f in defs}
    contacts = sim.rt.state.locations[sim.loc].contacts.values()
    seen = set()
    for contact in contacts:
        for cf in contact.customFields or []:
            kind = types[cf.id]["dataType"]
            seen.add(kind)
            if kind == "NUMERICAL":  # a string on the wire, as the contacts spec says
                assert isinstance(cf.value, str)
                assert cf.value.isdigit()
            elif kind == "DATE":
                assert isinstance(cf.value, str)
                assert len(cf.value) == 10
            elif kind == "SINGLE_OPTIONS":
                assert cf.value in types[cf.id]["picklistOptions"]
    assert seen >= {"NUMERICAL", "DATE", "SINGLE_OPTIONS"}
