"""The GHL simulator: GoHighLevel's API v2 contacts, tasks, notes, calendars and appointments,
OAuth for locations and agencies (Company tokens, location tokens minted from them, installs and
app webhooks), rate limits, signed webhooks delivered through a bounded queue, an activity
generator and fault injection, in one FastAPI app.

`create_app(settings)` builds it; `seed_state(...)` builds deterministic ground truth;
`ghl-sync simulator` serves it. See `README.md` for every choice GHL does not document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from services.simulator.app import create_app
    from services.simulator.seed import seed_state
    from services.simulator.settings import (
        FaultSettings,
        PrivateIntegrationToken,
        SimulatorSettings,
    )
    from services.simulator.state import SimulatorState

__all__ = [
    "FaultSettings",
    "PrivateIntegrationToken",
    "SimulatorSettings",
    "SimulatorState",
    "create_app",
    "seed_state",
]

__getattr__, __dir__ = lazy_exports(__name__)
