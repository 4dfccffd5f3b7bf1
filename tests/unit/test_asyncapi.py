"""docs/asyncapi.yaml parses, names every topic and every event type, and its files exist."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from schemas import CURRENT_SCHEMA_VERSIONS, EVENT_TYPES
from streams.settings import StreamsSettings
from streams.topics import topic_names

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _document() -> dict[str, Any]:
    loaded = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_it_is_asyncapi_2_6_with_servers_and_channels() -> None:
    doc = _document()
    assert doc["asyncapi"] == "2.6.0"
    assert {s["protocol"] for s in doc["servers"].values()} == {"kafka"}


def test_every_topic_is_a_channel() -> None:
    # The app name is a setting: the document writes it as the channel parameter `{appName}`.
    names = topic_names(StreamsSettings(topic_prefix="", app_name="{appName}")).all()
    channels = _document()["channels"]
    assert sorted(channels) == sorted(names)
    for name in names:
        if "{appName}" in name:
            assert "appName" in channels[name]["parameters"], name


def test_every_event_type_is_a_message_of_the_event_topic() -> None:
    doc = _document()
    messages = doc["components"]["messages"]
    offered = {
        ref.rsplit("/", 1)[-1] for ref in _refs(doc["channels"]["ghl.events.v1"]["subscribe"])
    }
    by_type = {messages[m]["name"]: messages[m] for m in offered}
    assert set(by_type) == set(EVENT_TYPES)
    for event_type, message in by_type.items():
        version = CURRENT_SCHEMA_VERSIONS[event_type]
        assert message["payload"]["$ref"] == f"./schemas/events/{event_type}.v{version}.json"


def test_every_reference_resolves() -> None:
    doc = _document()
    for ref in set(_refs(doc)):
        if ref.startswith("#/"):
            node: Any = doc
            for part in ref[2:].split("/"):
                node = node[part]
        else:
            assert (DOCS / ref).is_file(), ref
