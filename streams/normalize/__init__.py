"""Normalize: `ghl.raw.v1` -> `ghl.events.v1`.

- `mapping`: decode raw records, coalesce per entity, the per-webhook fetch table, the events;
- `fetcher`: the `GhlFetcher` interface and its GHL-client adapter;
- `canonical`: the one payload shape per entity type shared with the poller and backfill;
- `consumer`: the consumer hosted by the Faust worker (`register_normalize`).
"""

from schemas.canonical import canonical_contact, canonical_task
from streams.normalize.consumer import (
    FetcherFactory,
    NormalizeConsumer,
    NormalizeStats,
    register_normalize,
)
from streams.normalize.fetcher import ClientFetcher, GhlFetcher
from streams.normalize.mapping import (
    Decoded,
    Invalid,
    MissingContact,
    Skipped,
    Work,
    coalesce,
    decode,
    resolve,
)

__all__ = [
    "ClientFetcher",
    "Decoded",
    "FetcherFactory",
    "GhlFetcher",
    "Invalid",
    "MissingContact",
    "NormalizeConsumer",
    "NormalizeStats",
    "Skipped",
    "Work",
    "canonical_contact",
    "canonical_task",
    "coalesce",
    "decode",
    "register_normalize",
    "resolve",
]
