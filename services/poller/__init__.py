"""The poller and the backfill: what webhooks miss, straight to `ghl.events.v1`.

- `poller`: each location on its own schedule under a quota plan (`plan`): incremental
  contacts by `dateUpdated`, paced children and task sweeps, deletion reconciliation against
  the projections; instances share locations through leases (`ghl-sync poller`);
- `backfill`: a location's whole history, resumable; the poller's first job for a new
  location, and `ghl-sync backfill --location ID` for operators;
- `targets`: the onboarding contract (`register_location`, `remove_location`), see README.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from services.poller._location import CycleReport
    from services.poller._sink import EventSink
    from services.poller._store import LocationState, PollerStore
    from services.poller.plan import PlanInputs, QuotaPlan, plan_location
    from services.poller.poller import Poller
    from services.poller.settings import PollerSettings
    from services.poller.targets import register_location, remove_location

__all__ = [
    "CycleReport",
    "EventSink",
    "LocationState",
    "PlanInputs",
    "Poller",
    "PollerSettings",
    "PollerStore",
    "QuotaPlan",
    "plan_location",
    "register_location",
    "remove_location",
]

__getattr__, __dir__ = lazy_exports(__name__)
