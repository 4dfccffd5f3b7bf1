"""The GHL client counts its calls by status, its 429s, and keeps GHL's budget left."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY
from pydantic import SecretStr

from services.ghl import GhlSettings, InMemoryRateLimiter, StaticTokenProvider, build_client
from tests.factories.ghl import RefusedOnce

LOC = "locMetrics0000000001"
OP = "GET /contacts/{contactId}"


def _value(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_answers_429s_no_answers_and_budget_are_recorded() -> None:
    handler = RefusedOnce(
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(
            200,
            json={"contact": {"id": "c1"}},
            headers={"X-RateLimit-Remaining": "42", "X-RateLimit-Daily-Remaining": "1234"},
        ),
    )

    before = {
        status: _value("ghl_sync_ghl_requests_total", {"operation": OP, "status": status})
        for status in ("200", "429", "error")
    }
    limited = _value("ghl_sync_ghl_rate_limited_total", {"operation": OP})
    settings = GhlSettings.model_validate(
        {"base_url": "https://ghl.test", "retry_backoff": 0.001, "retry_backoff_max": 0.002}
    )
    client = build_client(
        settings,
        token_provider=StaticTokenProvider(SecretStr("pit")),
        rate_limiter=InMemoryRateLimiter(requests=100_000, interval=1.0),
        transport=httpx.MockTransport(handler),
    )
    async with client:
        await client.get_contact(LOC, "c1")

    for status in ("200", "429", "error"):
        after = _value("ghl_sync_ghl_requests_total", {"operation": OP, "status": status})
        assert after - before[status] == 1, status
    assert _value("ghl_sync_ghl_rate_limited_total", {"operation": OP}) - limited == 1
    assert _value("ghl_sync_ghl_budget_remaining", {"location_id": LOC}) == 42
    assert _value("ghl_sync_ghl_daily_budget_remaining", {"location_id": LOC}) == 1234
    assert _value("ghl_sync_ghl_request_seconds_count", {"operation": OP}) >= 2
