"""Location-level reads of `apps/locations.json` the sync needs: custom field definitions and
the sub-accounts a token sees."""

from __future__ import annotations

from typing import Any

from services.ghl._core import ClientCore, operation
from services.ghl._ratelimit import Priority

__all__ = ["LocationsOps"]


class LocationsOps(ClientCore):
    """A location's own objects (not a contact's)."""

    @operation("get-custom-fields")
    async def list_custom_fields(
        self, location_id: str, *, model: str = "contact", priority: Priority = Priority.POLL
    ) -> list[dict[str, Any]]:
        """`GET /locations/{locationId}/customFields`: the location's custom field definitions
        (`CustomFieldSchema` JSON objects) of `model` (`contact`, `opportunity` or `all`)."""
        body = await self._call(
            "get-custom-fields",
            location_id,
            path={"locationId": location_id},
            params={"model": model},
            priority=priority,
        )
        fields = body.get("customFields") if isinstance(body, dict) else None
        return [f for f in fields or () if isinstance(f, dict) and "id" in f]

    @operation("search-locations")
    async def search_locations(
        self, budget: str, *, limit: int = 10, priority: Priority = Priority.POLL
    ) -> list[dict[str, Any]]:
        """`GET /locations/search`: the sub-accounts (`GetLocationSchema` JSON objects) the
        token sees, at most `limit`. `budget` names the request budget and token to use when
        no location is known yet (a Private Integration Token's first call)."""
        body = await self._call(
            "search-locations", budget, params={"limit": str(limit)}, priority=priority
        )
        found = body.get("locations") if isinstance(body, dict) else None
        return [f for f in found or () if isinstance(f, dict) and isinstance(f.get("id"), str)]
