"""The poller and the backfill: what webhooks miss, straight to `ghl.events.v1`.

- `poller`: incremental contacts by `dateUpdated`, task sweeps, notes and appointments,
  deletion reconciliation against the projections (`ghl-sync poller`);
- `backfill`: a location's whole history, resumable (`ghl-sync backfill --location ID`).
"""

from services.poller._sink import EventSink
from services.poller._store import LocationState, PollerStore
from services.poller.poller import CycleReport, Poller
from services.poller.settings import PollerSettings

__all__ = [
    "CycleReport",
    "EventSink",
    "LocationState",
    "Poller",
    "PollerSettings",
    "PollerStore",
]
