"""`GET /calendars/` and `GET /calendars/events` by calendar, group or user and time window:
a location-wide appointment sweep sees every appointment exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from simulator_harness import CALENDARS_V, Sim, SimFactory
from simulator_spec import check

CALENDARS = "apps/calendars.json"


def _ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


async def _get(sim: Sim, path: str, **params: Any) -> Any:
    response = await sim.client.get(path, params=params, headers=sim.headers(version=CALENDARS_V))
    return response


async def test_a_seeded_location_has_several_calendars_with_appointments_on_each(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim(contacts=120)
    response = await _get(sim, "/calendars/", locationId=sim.loc)
    assert response.status_code == 200
    assert check(CALENDARS, "GET", "/calendars/", response)
    calendars = response.json()["calendars"]
    loc = sim.rt.state.locations[sim.loc]
    assert len(calendars) == 4
    assert {c["id"] for c in calendars} == set(loc.calendars)
    assert all(c["locationId"] == sim.loc and c["name"] for c in calendars)
    assert [c["name"] for c in calendars] == sorted(c["name"] for c in calendars)
    used = {a.calendarId for a in loc.appointments.values()}
    assert used == set(loc.calendars)
    groups = {c["groupId"] for c in calendars}
    assert len(groups) == 3
    for group in groups:
        narrowed = (await _get(sim, "/calendars/", locationId=sim.loc, groupId=group)).json()
        assert {c["groupId"] for c in narrowed["calendars"]} == {group}


async def test_calendar_list_checks_location_scope_and_version(make_sim: SimFactory) -> None:
    sim = await make_sim()
    other = sim.locations[1]
    assert (await _get(sim, "/calendars/", locationId=other)).status_code == 403
    assert (await _get(sim, "/calendars/")).status_code == 422
    wrong_version = await sim.client.get(
        "/calendars/", params={"locationId": sim.loc}, headers=sim.headers()
    )
    assert wrong_version.status_code == 400
    narrow = (await sim.mint(scopes=["calendars/events.readonly"]))["access_token"]
    denied = await sim.client.get(
        "/calendars/",
        params={"locationId": sim.loc},
        headers=sim.headers(narrow, version=CALENDARS_V),
    )
    assert denied.status_code == 401


async def test_a_sweep_by_calendar_and_window_sees_every_appointment_once(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim(contacts=200, rate_limit_max=10_000)
    loc = sim.rt.state.locations[sim.loc]
    starts = [a.startTime for a in loc.appointments.values() if a.startTime is not None]
    assert len(starts) > 20
    low, high = min(starts), max(starts)
    calendars = (await _get(sim, "/calendars/", locationId=sim.loc)).json()["calendars"]
    seen: list[str] = []
    week = timedelta(days=7)
    for calendar in calendars:
        window = low
        while window <= high:
            # Windows share no millisecond: [window, window + week - 1 ms].
            end = window + week - timedelta(milliseconds=1)
            response = await _get(
                sim, "/calendars/events", locationId=sim.loc, calendarId=calendar["id"],
                startTime=_ms(window), endTime=_ms(end),
            )  # fmt: skip
            assert response.status_code == 200, response.text
            assert check(CALENDARS, "GET", "/calendars/events", response)
            events = response.json()["events"]
            assert all(e["calendarId"] == calendar["id"] for e in events)
            assert [e["startTime"] for e in events] == sorted(e["startTime"] for e in events)
            seen += [e["id"] for e in events]
            window += week
    assert sorted(seen) == sorted(loc.appointments)


async def test_events_by_group_and_by_user(make_sim: SimFactory) -> None:
    sim = await make_sim(contacts=200)
    loc = sim.rt.state.locations[sim.loc]
    wide = {"startTime": "0", "endTime": _ms(datetime(2030, 1, 1, tzinfo=UTC))}
    group = next(iter(loc.calendars.values()))
    by_group = await _get(sim, "/calendars/events", locationId=sim.loc, groupId=group, **wide)
    expected = {a.id for a in loc.appointments.values() if a.groupId == group}
    assert {e["id"] for e in by_group.json()["events"]} == expected
    assert len({loc.calendars[c] for c in loc.calendars if loc.calendars[c] == group}) == 1
    user = loc.users[0]
    by_user = await _get(sim, "/calendars/events", locationId=sim.loc, userId=user, **wide)
    mine = {a.id for a in loc.appointments.values() if a.assignedUserId == user}
    assert {e["id"] for e in by_user.json()["events"]} == mine
    both = await _get(
        sim, "/calendars/events", locationId=sim.loc, userId=user, groupId=group, **wide
    )
    assert {e["id"] for e in both.json()["events"]} == mine & expected


@pytest.mark.parametrize(
    ("by_calendar", "window"),
    [
        (False, {"startTime": "0", "endTime": "1"}),
        (True, {"startTime": "2000", "endTime": "1000"}),
        (True, {}),
        (True, {"startTime": "soon", "endTime": "later"}),
    ],
    ids=["no selector", "backwards", "no window", "not a time"],
)
async def test_events_need_a_selector_and_a_sane_window(
    sim: Sim, by_calendar: bool, window: dict[str, str]
) -> None:
    calendar = next(iter(sim.rt.state.locations[sim.loc].calendars))
    selector = {"calendarId": calendar} if by_calendar else {}
    response = await _get(sim, "/calendars/events", locationId=sim.loc, **selector, **window)
    assert response.status_code == 400
