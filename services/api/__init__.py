"""APPNAME's HTTP API: commands in, command status and the unified contact view out.

    app = create_app(ApiSettings())          # serve with uvicorn, or `ghl-sync api`

`client` holds the helper apps use (HTTP or Kafka); `openapi` the committed document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from services.api.app import (
        Accepted,
        ApiProblem,
        CommandStatus,
        ContactPage,
        ContactView,
        create_app,
    )
    from services.api.client import CommandClient, CommandRefused, KafkaCommandProducer
    from services.api.settings import ApiSettings

__all__ = [
    "Accepted",
    "ApiProblem",
    "ApiSettings",
    "CommandClient",
    "CommandRefused",
    "CommandStatus",
    "ContactPage",
    "ContactView",
    "KafkaCommandProducer",
    "create_app",
]

__getattr__, __dir__ = lazy_exports(__name__)
