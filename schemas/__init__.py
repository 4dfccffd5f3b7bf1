"""ghl-sync schemas: GHL entities and webhooks, canonical events, their registry and JSON Schema.

Everything public is importable from here; the submodules are named for what they hold:

- `ghl`: GoHighLevel entities as GHL sends them (`Contact`, `Task`, `Note`, `Appointment`)
- `webhooks`: the 14 webhook bodies we sync and `parse_webhook`
- `contact_events`, `task_events`, `note_events`, `appointment_events`: canonical events
- `commands`: APPNAME's commands to GHL, `decode_command`, `CommandResult`
- `registry`: the closed `Event` union, `decode_event`, `encode_event`
- `upcasting`: steps that bring old `schema_version`s up to date on read
- `export`: JSON Schema files for consumers of `ghl.events`
- `ghl_errors`: the GHL client's error tree (`GhlError`, `NotFound`, ...)
- `exceptions`: errors for misuse (bad input is returned as a value, never raised)
- wire contracts: `topics` (topic and consumer-group names), `raw` (the `ghl.raw.v1` record),
  `dead_letters` (the dead-letter header names), `canonical` (one snapshot shape per entity)
"""

from __future__ import annotations

from schemas import (
    _envelope,
    _time,
    appointment_events,
    canonical,
    commands,
    contact_events,
    dead_letters,
    exceptions,
    export,
    ghl,
    ghl_errors,
    note_events,
    raw,
    registry,
    task_events,
    topics,
    upcasting,
    webhooks,
)
from schemas._envelope import *  # noqa: F403
from schemas._time import *  # noqa: F403
from schemas.appointment_events import *  # noqa: F403
from schemas.canonical import *  # noqa: F403
from schemas.commands._base import CommandBase as CommandBase
from schemas.commands.activities import *  # noqa: F403
from schemas.commands.contact import *  # noqa: F403
from schemas.commands.payloads import *  # noqa: F403
from schemas.commands.registry import *  # noqa: F403
from schemas.commands.results import *  # noqa: F403
from schemas.contact_events import *  # noqa: F403
from schemas.dead_letters import *  # noqa: F403
from schemas.exceptions import *  # noqa: F403
from schemas.export import *  # noqa: F403
from schemas.ghl import *  # noqa: F403
from schemas.ghl_errors import *  # noqa: F403
from schemas.note_events import *  # noqa: F403
from schemas.raw import *  # noqa: F403
from schemas.registry import *  # noqa: F403
from schemas.task_events import *  # noqa: F403
from schemas.topics import *  # noqa: F403
from schemas.upcasting import *  # noqa: F403
from schemas.webhooks import *  # noqa: F403

# Each module lists its public names once, in its own `__all__`; the package exports them all,
# in the order ruff keeps (SCREAMING_CASE, then CamelCase, then the rest). The command families
# are star-imported one by one: `schemas.commands` also gathers its `__all__` when it runs, and
# a type checker does not follow such a list through a star import.
__all__ = sorted(
    {
        *_envelope.__all__,
        *_time.__all__,
        *appointment_events.__all__,
        *canonical.__all__,
        *commands.__all__,
        *contact_events.__all__,
        *dead_letters.__all__,
        *exceptions.__all__,
        *export.__all__,
        *ghl.__all__,
        *ghl_errors.__all__,
        *note_events.__all__,
        *raw.__all__,
        *registry.__all__,
        *task_events.__all__,
        *topics.__all__,
        *upcasting.__all__,
        *webhooks.__all__,
    },
    key=lambda name: (not name.isupper(), not name[:1].isupper(), name),
)
