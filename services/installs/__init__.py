"""Agency installs: Company tokens, location tokens minted from them, the install state of each
(company, location), INSTALL/UNINSTALL/LocationCreate webhooks, installedLocations
reconciliation, and `is_installed` for everything acting for a location.

    agency = build_agency(ghl, InstallSettings(), pool=pool)
    await agency.authorise(grant)        # after the code exchange
    await agency.handle(webhook_body)    # an app webhook (the handler does this from ghl.raw.v1)
    await agency.reconcile()             # installedLocations of every company, periodically
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from services.installs.agency import APP_EVENT_TYPES, Agency, Discovery
    from services.installs.handler import InstallHandler
    from services.installs.lookup import InstallStatus, install_status, is_installed
    from services.installs.machine import Action, Decision, Installation, Outcome, State
    from services.installs.settings import InstallSettings
    from services.installs.store import InstallStore
    from services.installs.wiring import build_agency

__all__ = [
    "APP_EVENT_TYPES",
    "Action",
    "Agency",
    "Decision",
    "Discovery",
    "InstallHandler",
    "InstallSettings",
    "InstallStatus",
    "InstallStore",
    "Installation",
    "Outcome",
    "State",
    "build_agency",
    "install_status",
    "is_installed",
]

__getattr__, __dir__ = lazy_exports(__name__)
