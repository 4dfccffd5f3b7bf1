"""Normalize: `ghl.raw.v1` -> `ghl.events.v1`.

- `mapping`: decode raw records, coalesce per entity, the per-webhook fetch table, the events;
- `fetcher`: the `GhlFetcher` interface (the entry point passes in the GHL-client adapter,
  `streams.ghl_fetcher`; the canonical payload shapes are `schemas.canonical`);
- `consumer`: the consumer hosted by the Faust worker (`register_normalize`).
"""

from schemas.canonical import canonical_contact, canonical_task
from streams.normalize.consumer import (
    FetcherFactory,
    NormalizeConsumer,
    NormalizeStats,
    register_normalize,
)
from streams.normalize.fetcher import GhlFetcher
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
