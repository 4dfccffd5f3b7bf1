"""Deterministic seed data: the same seed gives the same locations, ids, records and times.

Seeded times lie in the year before 2026-01-01T00:00Z, whatever the wall clock says, so two runs
with one seed are identical; changes made afterwards are stamped with the state's clock.
"""

from __future__ import annotations

import gc
import random
import string
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from schemas.ghl import Appointment, Contact, CustomFieldValue, Note, Task
from services.simulator.state import LocationData, SimulatorState, random_id, with_derived_names

__all__ = [
    "FIRST_NAMES",
    "LAST_NAMES",
    "NOTE_BODIES",
    "SEED_EPOCH",
    "TAGS",
    "TASK_TITLES",
    "seed_location",
    "seed_state",
]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SEED_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""Every seeded time is before this instant."""

FIRST_NAMES = _words(
    "Ada Alan Grace Linus Margaret Edsger Barbara Donald Frances Ken Radia Tim Sophie Hedy "
    "Dennis Karen John Shafi Niklaus Leslie Anita Guido Yukihiro Bjarne James Joan Claude "
    "Katherine Dorothy Mary Carl Emmy Srinivasa Marie Lise Rosalind Chien-Shiung Alonzo "
    "Kurt"
)
LAST_NAMES = _words(
    "Lovelace Turing Hopper Torvalds Hamilton Dijkstra Liskov Knuth Allen Thompson Perlman "
    "Berners-Lee Wilson Lamarr Ritchie Jones McCarthy Goldwasser Wirth Lamport Borg Rossum "
    "Matsumoto Stroustrup Gosling Clarke Shannon Johnson Vaughan Jackson Gauss Noether "
    "Ramanujan Curie Meitner Franklin Wu Church Godel Nakamura"
)
_COMPANIES = (
    "Analytical Ltd",
    "Bletchley Works",
    "Compiler Co",
    "Kernel Labs",
    "Apollo Guidance",
    "Shortest Path Inc",
    None,
)
_PLACES = (
    ("Springfield", "IL", "62701"),
    ("Austin", "TX", "73301"),
    ("Portland", "OR", "97201"),
    ("Boulder", "CO", "80301"),
    ("Madison", "WI", "53703"),
)
TAGS = ("customer", "lead", "newsletter", "vip", "webinar", "trial", "churn-risk", "referral")
_SOURCES = ("public api", "xyz form", "facebook", "import", "booking_widget")
TASK_TITLES = (
    "Call back",
    "Send proposal",
    "Follow up on invoice",
    "Book demo",
    "Renewal check-in",
)
NOTE_BODIES = (
    "Met at expo",
    "Prefers email",
    "Asked for pricing",
    "Left voicemail",
    "Happy customer",
)
_CALENDAR_NAMES = ("Demo calls", "Onboarding", "Quarterly reviews", "Discovery calls")
_APPTS = ("Demo call", "Onboarding", "Quarterly review", "Discovery call")
_STATUSES = ("new", "confirmed", "confirmed", "showed", "cancelled", "noshow")
_LOCATIONS = ("Dental", "Fitness", "Realty", "Legal", "Roofing", "Salon", "Auto", "Clinic")
_ID = string.ascii_letters + string.digits
_FREEZE_FROM = 5_000


def seed_state(
    *,
    seed: int = 0,
    locations: int = 3,
    contacts_per_location: int = 25,
    allow_duplicates: bool = False,
    duplicate_priority: tuple[str, ...] = ("email", "phone"),
    clock: Callable[[], datetime] | None = None,
) -> SimulatorState:
    """A new state with `locations` locations of `contacts_per_location` contacts each.

    Contacts get realistic names, emails, phones, tags and custom fields; about half get tasks,
    a third notes and a quarter appointments. No webhooks are sent for seeded data.
    """
    state = SimulatorState(seed=seed, clock=clock)
    rng = _Rng(f"ghl-sync-simulator-seed:{seed}")
    for index in range(locations):
        _seed_location(
            state, rng, index, contacts_per_location, allow_duplicates, duplicate_priority
        )
    if locations * contacts_per_location >= _FREEZE_FROM:
        # Hundreds of thousands of long-lived objects: without this, each full collection of
        # the cyclic GC walks them all and stalls the event loop for about a second.
        gc.freeze()
    return state


class _Rng(random.Random):
    """`random.Random` with the draws seeding uses most, inlined: the same values, faster.

    `choice`, `randint` and `sample` are `Random`'s own algorithms (an unbiased `getrandbits`
    draw below n, redrawn when too large; `sample`'s pool method for small populations), so a
    seed gives exactly the data it gave before.
    """

    def _below(self, n: int) -> int:
        bits = self.getrandbits
        k = n.bit_length()
        r = bits(k)
        while r >= n:
            r = bits(k)
        return r

    def choice(self, seq: Any) -> Any:
        return seq[self._below(len(seq))]

    def randint(self, a: int, b: int) -> int:
        return a + self._below(b - a + 1)

    def sample(self, population: Any, k: int, *, counts: Any = None) -> list[Any]:
        n = len(population)
        if counts is not None or not 0 <= k <= min(n, 5) or n > 21:
            return super().sample(population, k, counts=counts)
        pool = list(population)
        out = []
        for i in range(k):
            j = self._below(n - i)
            out.append(pool[j])
            pool[j] = pool[n - i - 1]
        return out


def _rid(rng: random.Random) -> str:
    return random_id(rng)


def _seed_location(
    state: SimulatorState,
    rng: random.Random,
    index: int,
    contacts: int,
    allow_duplicates: bool,
    duplicate_priority: tuple[str, ...],
) -> LocationData:
    loc = state.add_location(
        f"{rng.choice(LAST_NAMES)} {_LOCATIONS[index % len(_LOCATIONS)]} #{index + 1}",
        location_id=_rid(rng),
        allow_duplicates=allow_duplicates,
        duplicate_priority=duplicate_priority,
    )
    loc.users.extend(_rid(rng) for _ in range(3))
    for _ in range(2):
        loc.calendars[_rid(rng)] = _rid(rng)
    loc.custom_fields.update({"membership_level": _rid(rng), "favorite_color": _rid(rng)})
    # Ids derived from the location's, values from the contact's number: no draw from `rng`,
    # so every other seeded value stays what it was before these fields existed.
    loc.custom_fields.update(
        {"lead_score": f"{loc.id[:16]}LSCR", "renewal_date": f"{loc.id[:16]}RNWD"}
    )
    loc.custom_fields.update(
        {
            "deal_value": f"{loc.id[:16]}DEAL",
            "interests": f"{loc.id[:16]}INTR",
            "consents": f"{loc.id[:16]}CNST",
            "about": f"{loc.id[:16]}ABOU",
        }
    )
    for number in range(contacts):
        contact = _contact(rng, loc.id, number, loc.users, loc.custom_fields)
        state.insert(loc.id, "contacts", contact)
        for _ in range(rng.choice((0, 0, 1, 2, 3))):
            state.insert(loc.id, "tasks", _task(rng, contact, loc.users))
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            state.insert(loc.id, "notes", _note(rng, contact, loc.users))
        for _ in range(rng.choice((0, 0, 0, 1))):
            state.insert(loc.id, "appointments", _appointment(rng, contact, loc))
    _more_calendars(loc)
    return loc


def seed_location(
    state: SimulatorState, *, key: str, index: int, contacts: int = 0
) -> LocationData:
    """Add one seeded location (as `seed_state` makes them) to a running state, no webhooks.

    `key` seeds its generator (the same key gives the same location); `index` numbers its name.
    """
    return _seed_location(
        state,
        _Rng(f"ghl-sync-simulator-location:{key}"),
        index,
        contacts,
        False,
        ("email", "phone"),
    )


def _more_calendars(loc: LocationData) -> None:
    """Name the location's calendars, add two more and spread the appointments over all four.

    A generator of its own (seeded by the location id) keeps every other seeded value what it
    was before locations had more than two calendars.
    """
    rng = random.Random(f"ghl-sync-simulator-calendars:{loc.id}")
    first = next(iter(loc.calendars))
    loc.calendars[_rid(rng)] = loc.calendars[first]  # a second calendar in the first group
    loc.calendars[_rid(rng)] = _rid(rng)  # and one in a group of its own
    for calendar_id, name in zip(loc.calendars, _CALENDAR_NAMES, strict=False):
        loc.calendar_names[calendar_id] = name
    calendar_ids = list(loc.calendars)
    for appt_id, appt in list(loc.appointments.items()):
        calendar_id = rng.choice(calendar_ids)
        loc.appointments[appt_id] = appt.model_copy(
            update={"calendarId": calendar_id, "groupId": loc.calendars[calendar_id]}
        )


def _when(rng: random.Random, *, after: datetime | None = None) -> datetime:
    if after is None:
        moment = SEED_EPOCH - timedelta(seconds=rng.randint(86400, 365 * 86400))
    else:
        span = max(0, int((SEED_EPOCH - after).total_seconds()) - 1)
        moment = after + timedelta(seconds=rng.randint(0, span))
    return moment.replace(microsecond=rng.randint(0, 999) * 1000)


def _typed_values(number: int, custom_fields: dict[str, str]) -> list[CustomFieldValue]:
    """A number and a date (as the strings GHL sends) for most seeded contacts (every fifth
    has neither)."""
    if number % 5 == 4 or "lead_score" not in custom_fields:
        return []
    renewal = date(2026, 1, 1) + timedelta(days=(number * 37) % 365)
    values = [
        CustomFieldValue(id=custom_fields["lead_score"], value=str((number * 7) % 100)),
        CustomFieldValue(id=custom_fields["renewal_date"], value=renewal.isoformat()),
    ]
    if number % 10 == 3 and "deal_value" in custom_fields:
        # Every tenth: a money amount, options of a multi-option field and of a checkbox.
        picks = ("Email", "SMS", "Events", "Webinars")
        values += [
            CustomFieldValue(id=custom_fields["deal_value"], value=f"{(number * 131) % 5000}.50"),
            CustomFieldValue(
                id=custom_fields["interests"],
                value=[picks[number % 4]] + ([picks[(number + 1) % 4]] if number % 20 == 3 else []),
            ),
            CustomFieldValue(id=custom_fields["consents"], value=["Newsletter"]),
        ]
    return values


def _contact(
    rng: random.Random,
    location_id: str,
    number: int,
    users: list[str],
    custom_fields: dict[str, str],
) -> Contact:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, region, postal = rng.choice(_PLACES)
    added = _when(rng)
    fields: dict[str, Any] = {
        "id": _rid(rng),
        "locationId": location_id,
        "firstName": first,
        "lastName": last,
        "email": f"{first.lower()}.{last.lower()}.{number}@example.com",
        "phone": f"+1555{rng.randint(100, 999)}{number:04d}",
        "address1": f"{rng.randint(1, 999)} Main St",
        "city": city,
        "state": region,
        "postalCode": postal,
        "country": "US",
        "timezone": "America/Chicago",
        "dnd": False,
        "source": rng.choice(_SOURCES),
        "type": rng.choice(("lead", "customer")),
        "assignedTo": rng.choice(users),
        "tags": sorted(rng.sample(TAGS, rng.randint(0, 3))),
        "customFields": (
            [
                CustomFieldValue(
                    id=custom_fields["membership_level"],
                    value=rng.choice(("Gold", "Silver", "Bronze")),
                )
            ]
            if rng.random() < 0.5
            else []
        )
        + _typed_values(number, custom_fields),
        "dateAdded": added,
        "dateUpdated": _when(rng, after=added),
    }
    company = rng.choice(_COMPANIES)
    if company:
        fields["companyName"] = company
    return Contact.model_validate(with_derived_names(fields))


def _added_after(rng: random.Random, contact: Contact) -> datetime:
    """When one of the contact's records was made: after the contact."""
    assert contact.dateAdded is not None
    return _when(rng, after=contact.dateAdded)


def _task(rng: random.Random, contact: Contact, users: list[str]) -> Task:
    added = _added_after(rng, contact)
    return Task(
        id=_rid(rng),
        title=rng.choice(TASK_TITLES),
        body=f"{rng.choice(TASK_TITLES)} for {contact.name}",
        dueDate=added + timedelta(days=rng.randint(1, 30)),
        completed=rng.random() < 0.3,
        contactId=contact.id,
        assignedTo=rng.choice(users),
        dateAdded=added,
        dateUpdated=added,
    )


def _note(rng: random.Random, contact: Contact, users: list[str]) -> Note:
    added = _added_after(rng, contact)
    return Note(
        id=_rid(rng),
        body=rng.choice(NOTE_BODIES),
        title=rng.choice(("Follow-up summary", "Call notes", "")),
        color=rng.choice(("#FFAA00", "#00AAFF")),
        pinned=rng.random() < 0.2,
        userId=rng.choice(users),
        contactId=contact.id,
        dateAdded=added,
        dateUpdated=added,
    )


def _appointment(rng: random.Random, contact: Contact, loc: Any) -> Appointment:
    calendar_id = rng.choice(sorted(loc.calendars))
    added = _added_after(rng, contact)
    start = (added + timedelta(days=rng.randint(1, 60))).replace(minute=0, second=0, microsecond=0)
    user = rng.choice(loc.users)
    return Appointment(
        id=_rid(rng),
        calendarId=calendar_id,
        locationId=loc.id,
        contactId=contact.id,
        groupId=loc.calendars[calendar_id],
        title=f"{rng.choice(_APPTS)} with {contact.name}",
        status="booked",
        appointmentStatus=rng.choice(_STATUSES),
        assignedUserId=user,
        users=[user],
        notes="",
        address="https://meet.example.com/" + _rid(rng)[:8],
        source="booking_widget",
        startTime=start,
        endTime=start + timedelta(minutes=30),
        dateAdded=added,
        dateUpdated=added,
        createdBy={"userId": user, "source": "booking_widget"},
    )
