"""APPNAME's commands on `appname.commands.v1`: one per GHL write operation the writer applies.

Every command is frozen, forbids unknown keys and carries:

- `command_id`: the idempotency key. The writer applies a command id at most once; the same
  id sent again with the same content is the same command, with other content it is refused.
- `command_type`: the discriminator of the closed `Command` union (`decode_command`).
- `location_id` and its target (`contact_id`, and `task_id` / `note_id` / `appointment_id`).
- `payload`: GHL's own field names (camelCase), `None` meaning "not sent".
- `expected_version` (where GHL keeps a `dateUpdated` to compare it with: contacts and
  appointments): GHL's `dateUpdated` the change was based on; an older one is a conflict.

The Kafka key is `command_key(command)`, `{location_id}:{contact_id}`, so one contact's
commands stay in order in one partition; creating a contact has no contact id yet and is keyed
by `{location_id}:new:{command_id}`.

A contact create must carry an email or a phone: GHL has no idempotency key, and a create whose
answer was lost (or answered 422 yet applied, GHL issue #64) is found again only by GHL's
duplicate search on email or phone.

The package is split by what it holds: `payloads` (GHL's request bodies from `requests`, with
the commands' rules), `contact` and `activities` (the two command families), `registry` (the
closed union, decoding, keys, digests) and `results`.
"""

from __future__ import annotations

from schemas.commands import activities, contact, payloads, registry, results
from schemas.commands._base import CommandBase as CommandBase
from schemas.commands.activities import *  # noqa: F403
from schemas.commands.contact import *  # noqa: F403
from schemas.commands.payloads import *  # noqa: F403
from schemas.commands.registry import *  # noqa: F403
from schemas.commands.results import *  # noqa: F403

# Each module lists its public names once, in its own `__all__` (`_base` and `requests` are
# building blocks: only `CommandBase` is exported from them).
__all__ = sorted(
    {
        "CommandBase",
        *activities.__all__,
        *contact.__all__,
        *payloads.__all__,
        *registry.__all__,
        *results.__all__,
    },
    key=lambda name: (not name.isupper(), not name[:1].isupper(), name),
)
