"""Settings of the webhook receiver (`ghl-sync webhooks`, env prefix `GHL_SYNC_WEBHOOKS_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.platform.connections import ServiceSettings
from services.platform.settings_fields import TopicFields, host_field, port_field, seconds_field

__all__ = ["GHL_ED25519_PUBLIC_KEY", "GHL_RSA_PUBLIC_KEY", "WebhookSettings"]

GHL_ED25519_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=
-----END PUBLIC KEY-----
"""
"""GHL's published Ed25519 key for `X-GHL-Signature` (WH-GUIDE, REFERENCE.md section 3)."""

GHL_RSA_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAokvo/r9tVgcfZ5DysOSC
Frm602qYV0MaAiNnX9O8KxMbiyRKWeL9JpCpVpt4XHIcBOK4u3cLSqJGOLaPuXw6
dO0t6Q/ZVdAV5Phz+ZtzPL16iCGeK9po6D6JHBpbi989mmzMryUnQJezlYJ3DVfB
csedpinheNnyYeFXolrJvcsjDtfAeRx5ByHQmTnSdFUzuAnC9/GepgLT9SM4nCpv
uxmZMxrJt5Rw+VUaQ9B8JSvbMPpez4peKaJPZHBbU3OdeCVx5klVXXZQGNHOs8gF
3kvoV5rTnXV0IknLBXlcKKAQLZcY/Q9rG6Ifi9c+5vqlvHPCUJFT5XUGG5RKgOKU
J062fRtN+rLYZUV+BjafxQauvC8wSWeYja63VSUruvmNj8xkx2zE/Juc+yjLjTXp
IocmaiFeAO6fUtNjDeFVkhf5LNb59vECyrHD2SQIrhgXpO4Q3dVNA5rw576PwTzN
h/AMfHKIjE4xQA1SZuYJmNnmVZLIZBlQAF9Ntd03rfadZ+yDiOXCCs9FkHibELhC
HULgCsnuDJHcrGNd5/Ddm5hxGQ0ASitgHeMZ0kcIOwKDOzOU53lDza6/Y09T7sYJ
PQe7z0cvj7aE4B+Ax1ZoZGPzpJlZtGXCsu9aTEGEnKzmsFqwcSsnw3JB31IGKAyk
T1hhTiaCeIY/OwwwNUY2yvcCAwEAAQ==
-----END PUBLIC KEY-----
"""
"""GHL's published RSA key for the legacy `X-WH-Signature` (deprecated 2026-09-01)."""


class WebhookSettings(ServiceSettings, TopicFields):
    """Where the receiver listens, whom it trusts, what it accepts and where it persists.

    Public keys are not secrets; the database URL is (it may hold a password).
    """

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_WEBHOOKS_", frozen=True)

    host: str = host_field("webhooks")
    port: int = port_field("webhooks", 8710)
    path: str = Field(default="/webhooks/ghl", description="Path GHL posts deliveries to.")

    ed25519_public_keys: tuple[str, ...] = Field(
        default=(GHL_ED25519_PUBLIC_KEY,),
        description="PEM Ed25519 keys for X-GHL-Signature; several during a rotation.",
    )
    rsa_public_keys: tuple[str, ...] = Field(
        default=(GHL_RSA_PUBLIC_KEY,), description="PEM RSA keys for the legacy X-WH-Signature."
    )
    accept_legacy_rsa: bool = Field(
        default=True, description="Accept X-WH-Signature when X-GHL-Signature is absent."
    )
    verify_reserialized: bool = Field(
        default=True,
        description="If the raw body fails, also try its compact re-serialisation (GHL's own "
        "examples sign JSON.stringify(body); UNCONFIRMED which one real deliveries use).",
    )

    max_body_bytes: int = Field(default=256 * 1024, ge=1, description="Larger bodies get 413.")
    max_age_seconds: float = seconds_field(
        3600.0,
        "Deliveries whose `timestamp` is older are rejected. GHL retries with the "
        "same timestamp for a while, so this is wider than a replay window would be alone; "
        "webhookId dedupe is the replay defence, the window bounds how long ids are kept.",
    )
    max_future_seconds: float = seconds_field(
        300.0, "Clock skew allowed for a `timestamp` in the future.", allow_zero=True
    )
    require_timestamp: bool = Field(default=True, description="Reject bodies without one.")

    produce_timeout_seconds: float = seconds_field(
        5.0, "Longest wait for Kafka's ack before answering 429."
    )
    retry_after_seconds: int = Field(
        default=30, ge=1, description="Retry-After sent with 429 when persisting failed."
    )

    claim_lease_seconds: float = seconds_field(
        30.0,
        "A claim not confirmed within this time (a crashed receiver) may be "
        "taken over by a redelivery.",
    )
    receipts_synchronous_commit: Literal["on", "off"] = Field(
        default="off",
        description="PostgreSQL `synchronous_commit` of the receipt writes. `off` answers "
        "without waiting for the WAL flush (~2 ms a commit here, the largest part of a "
        "delivery's latency): a receiver crash or restart loses nothing, and a PostgreSQL "
        "crash loses at most the last ~0.6 s of receipts, whose replays would then be "
        "persisted again as harmless duplicates (what the receiver does anyway while "
        "PostgreSQL is down). Never a 2xx for an unpersisted delivery: Kafka decides that.",
    )
    receipt_retention_seconds: float = seconds_field(
        2 * 86400.0, "Receipts older than this are pruned."
    )
