"""The keyword arguments every event family's `build` takes besides its entity, declared once.

Each `build` names only its entity, the contact it belongs to and, for a tombstone, when it
was deleted; the location and how we learnt the fact come in `_BuildArgs`, which
`EventEnvelope._assemble` checks.
"""

from __future__ import annotations

from typing import Required

from schemas._envelope import EventFacts


class _BuildArgs(EventFacts, total=False):
    """`EventFacts` and the GHL location (sub-account) the entity belongs to."""

    location_id: Required[str]
