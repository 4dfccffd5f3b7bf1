"""Operating ghl-sync: `ghl-sync status` and the health endpoints of its processes.

- `collect`: gather a `StatusReport` from PostgreSQL and Kafka (`collect_status`);
- `report`: the report's frozen values, also its `--json` shape;
- `render`: the report as rich tables or JSON;
- `health`: `/metrics`, `/livez`, `/readyz` for processes that are not web apps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from services.platform.health import HealthServer, Heartbeat, Readiness
    from services.status.collect import StatusSources, assemble, collect_status, normalize_group
    from services.status.render import render_json, render_tables
    from services.status.report import (
        BackfillState,
        BudgetState,
        DeadLetters,
        LocationStatus,
        PartitionLag,
        PollerState,
        StatusReport,
        TableCount,
        TokenState,
        WebhookReceipts,
    )

__all__ = [
    "BackfillState",
    "BudgetState",
    "DeadLetters",
    "HealthServer",
    "Heartbeat",
    "LocationStatus",
    "PartitionLag",
    "PollerState",
    "Readiness",
    "StatusReport",
    "StatusSources",
    "TableCount",
    "TokenState",
    "WebhookReceipts",
    "assemble",
    "collect_status",
    "normalize_group",
    "render_json",
    "render_tables",
]

__getattr__, __dir__ = lazy_exports(__name__)
