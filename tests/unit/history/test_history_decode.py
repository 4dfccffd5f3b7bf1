"""The cheap decoder gives the models' snapshot, and leaves everything else to the models."""

from __future__ import annotations

from hypothesis import given, settings
from pydantic_core import from_json

from schemas import decode_event, encode_event
from streams.history.decode import _fast, decode_snapshot
from streams.history.rows import snapshot_for
from tests.factories import histories


@settings(max_examples=150, deadline=None)
@given(histories)
def test_the_cheap_path_gives_the_models_snapshot(events: list) -> None:
    for event in events:
        value = encode_event(event)
        decoded = decode_event(value)
        assert not hasattr(decoded, "reason")
        assert decode_snapshot(value) == snapshot_for(decoded)  # type: ignore[arg-type]
        assert _fast(from_json(value)) is not None  # what encode_event writes is cheap


def test_records_the_models_reject_are_not_snapshots() -> None:
    assert decode_snapshot(b"not json") is None
    assert decode_snapshot(b'{"event_type": "contact.exploded"}') is None
    assert decode_snapshot(b'{"event_type": "contact.upserted", "schema_version": 1}') is None
