"""The webhook receiver without I/O: signatures, limits, timestamps, replays, 429 on failure."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from ingest_helpers import (
    NOW,
    MemoryReceipts,
    MemorySink,
    body,
    ed_sign,
    rsa_sign,
    settings,
)
from prometheus_client import CollectorRegistry

from schemas.raw import RawDelivery, raw_key
from services.webhooks import GHL_ED25519_PUBLIC_KEY, SignatureVerifier, WebhookSettings, create_app

URL = "/webhooks/ghl"


def _app(**values: Any) -> tuple[httpx.AsyncClient, MemorySink, CollectorRegistry]:
    sink = MemorySink(fail=values.pop("fail", False))
    registry = CollectorRegistry()
    app = create_app(
        settings(**values),
        sink=sink,
        receipts=MemoryReceipts(),
        registry=registry,
        clock=lambda: NOW,
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r")
    return client, sink, registry


def _rejected(registry: CollectorRegistry, reason: str) -> float:
    value = registry.get_sample_value("ghl_sync_webhooks_rejected_total", {"reason": reason})
    return value or 0.0


async def test_a_signed_delivery_is_persisted_with_its_receive_time() -> None:
    client, sink, _ = _app()
    raw = body()
    response = await client.post(URL, content=raw, headers=ed_sign(raw))
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    [record] = sink.records
    assert record.body == raw
    assert record.received_at == NOW
    assert record.signature_scheme == "ed25519"
    assert record.key == "loc1:c1"
    back = RawDelivery.from_record(record.body, record.key.encode(), record.headers())
    assert back == record


async def test_legacy_rsa_signature_is_accepted_only_while_enabled() -> None:
    raw = body()
    client, sink, _ = _app()
    assert (await client.post(URL, content=raw, headers=rsa_sign(raw))).status_code == 200
    assert sink.records[0].signature_scheme == "rsa-sha256"
    client, _, registry = _app(accept_legacy_rsa=False)
    assert (await client.post(URL, content=raw, headers=rsa_sign(raw))).status_code == 401
    assert _rejected(registry, "missing_signature") == 1


async def test_ed25519_header_present_means_no_fallback_to_rsa() -> None:
    client, _, registry = _app()
    raw = body()
    headers = {**rsa_sign(raw), "X-GHL-Signature": base64.b64encode(b"x" * 64).decode()}
    assert (await client.post(URL, content=raw, headers=headers)).status_code == 401
    assert _rejected(registry, "bad_signature") == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_signature"),
        ({"X-GHL-Signature": "N/A"}, "missing_signature"),
        ({"X-GHL-Signature": "not base64!"}, "bad_signature"),
    ],
)
async def test_missing_or_bad_signature_is_401(headers: dict[str, str], reason: str) -> None:
    client, sink, registry = _app()
    response = await client.post(URL, content=body(), headers=headers)
    assert response.status_code == 401
    assert response.json()["reason"] == reason
    assert _rejected(registry, reason) == 1
    assert sink.records == []


async def test_a_tampered_body_fails_verification() -> None:
    client, _, _ = _app()
    raw = body()
    tampered = raw.replace(b"loc1", b"loc2")
    assert (await client.post(URL, content=tampered, headers=ed_sign(raw))).status_code == 401


async def test_reserialized_json_signature_is_accepted() -> None:
    # GHL's examples sign JSON.stringify(parsed): a pretty-printed body still verifies.
    client, _, _ = _app()
    compact = body()
    pretty = json.dumps(json.loads(compact), indent=2).encode()
    assert (await client.post(URL, content=pretty, headers=ed_sign(compact))).status_code == 200
    client, _, _ = _app(verify_reserialized=False)
    assert (await client.post(URL, content=pretty, headers=ed_sign(compact))).status_code == 401


async def test_body_over_the_limit_is_413() -> None:
    client, sink, registry = _app(max_body_bytes=100)
    raw = body(name="x" * 200)
    response = await client.post(URL, content=raw, headers=ed_sign(raw))
    assert response.status_code == 413
    assert _rejected(registry, "body_too_large") == 1
    assert sink.records == []


async def test_body_over_the_limit_without_content_length_is_413() -> None:
    client, _, _ = _app(max_body_bytes=100)
    raw = body(name="x" * 200)

    async def chunks():  # type: ignore[no-untyped-def]
        for i in range(0, len(raw), 32):
            yield raw[i : i + 32]

    response = await client.post(URL, content=chunks(), headers=ed_sign(raw))
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"{not json", "malformed_json"), (b"[1,2]", "not_an_object")],
)
async def test_malformed_json_is_400(raw: bytes, reason: str) -> None:
    client, _, registry = _app()
    response = await client.post(URL, content=raw, headers=ed_sign(raw))
    assert response.status_code == 400
    assert _rejected(registry, reason) == 1


@pytest.mark.parametrize(
    ("stamp", "status", "reason"),
    [
        ("2026-03-02T06:00:00.000Z", 401, "stale_timestamp"),
        ("2026-03-02T09:00:00.000Z", 401, "future_timestamp"),
        ("yesterday", 400, "bad_timestamp"),
        (None, 400, "missing_timestamp"),
    ],
)
async def test_timestamp_outside_the_window_is_rejected(
    stamp: str | None, status: int, reason: str
) -> None:
    client, _, registry = _app()
    raw = body(timestamp=stamp)
    response = await client.post(URL, content=raw, headers=ed_sign(raw))
    assert (response.status_code, response.json()["reason"]) == (status, reason)
    assert _rejected(registry, reason) == 1


async def test_replay_is_dropped_with_2xx() -> None:
    client, sink, registry = _app()
    raw = body()
    first = await client.post(URL, content=raw, headers=ed_sign(raw))
    second = await client.post(URL, content=raw, headers=ed_sign(raw))
    assert (first.json()["status"], second.json()["status"]) == ("accepted", "duplicate")
    assert second.status_code == 200
    assert len(sink.records) == 1
    assert registry.get_sample_value("ghl_sync_webhooks_duplicates_total") == 1


async def test_unpersisted_delivery_is_429_and_its_retry_is_not_dropped() -> None:
    sink = MemorySink(fail=True)
    receipts = MemoryReceipts()
    app = create_app(settings(), sink=sink, receipts=receipts, clock=lambda: NOW)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r")
    raw = body()
    response = await client.post(URL, content=raw, headers=ed_sign(raw))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    sink.fail = False
    retry = await client.post(URL, content=raw, headers=ed_sign(raw))
    assert retry.json()["status"] == "accepted"
    assert len(sink.records) == 1


async def test_metrics_endpoint_exposes_rejections() -> None:
    client, _, _ = _app()
    await client.post(URL, content=body())
    text = (await client.get("/metrics")).text
    assert 'ghl_sync_webhooks_rejected_total{reason="missing_signature"} 1.0' in text


def test_default_settings_trust_ghl_published_keys() -> None:
    defaults = WebhookSettings()
    assert defaults.ed25519_public_keys == (GHL_ED25519_PUBLIC_KEY,)
    SignatureVerifier(defaults)  # both published keys parse


def test_raw_key_prefers_the_contact() -> None:
    assert raw_key({"locationId": "L", "id": "n1", "contactId": "c1"}) == "L:c1"
    assert raw_key({"locationId": "L", "appointment": {"id": "a", "contactId": "c"}}) == "L:c"
    assert raw_key({"locationId": "L", "id": "c9"}) == "L:c9"
    assert raw_key({}) == "unknown"


@hsettings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.one_of(st.binary(max_size=400), st.text(max_size=200).map(str.encode)),
    signed=st.booleans(),
    header=st.sampled_from(["X-GHL-Signature", "X-WH-Signature"]),
)
async def test_forged_and_malformed_deliveries_get_4xx_never_5xx(
    raw: bytes, signed: bool, header: str
) -> None:
    client, sink, registry = _app(max_body_bytes=300)
    headers = ed_sign(raw) if signed else {header: base64.b64encode(raw[:64]).decode()}
    response = await client.post(URL, content=raw, headers=headers)
    assert 400 <= response.status_code < 500
    assert sink.records == []
    total = sum(
        registry.get_sample_value("ghl_sync_webhooks_rejected_total", {"reason": r}) or 0
        for r in (
            "body_too_large", "missing_signature", "bad_signature", "malformed_json",
            "not_an_object", "missing_timestamp", "bad_timestamp", "stale_timestamp",
            "future_timestamp",
        )
    )  # fmt: skip
    assert total == 1
