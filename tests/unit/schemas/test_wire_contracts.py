"""The wire contracts in `schemas`: topic and group names, the dead-letter header set, the
canonical snapshot shapes."""

from __future__ import annotations

from types import SimpleNamespace

from schemas import (
    DEAD_LETTER_HEADERS,
    GROUP_NORMALIZE,
    Contact,
    Task,
    canonical_contact,
    canonical_task,
    consumer_group,
    topic_names_for,
)
from services.platform import dead_letter_headers
from streams.settings import StreamsSettings
from streams.topics import topic_names


def test_topic_names_carry_the_prefix_and_the_app_name() -> None:
    names = topic_names_for("t1.", "acme")
    assert names.raw == "t1.ghl.raw.v1"
    assert names.commands == "t1.acme.commands.v1"
    assert len(set(names.all())) == 7
    assert all(name.startswith("t1.") for name in names.all())


def test_the_settings_view_is_the_contract() -> None:
    settings = StreamsSettings(topic_prefix="p.", app_name="acme")
    assert topic_names(settings) == topic_names_for("p.", "acme")


def test_consumer_group_names() -> None:
    assert consumer_group("ghl-sync", GROUP_NORMALIZE) == "ghl-sync-normalize"


def test_dead_letter_headers_append_the_declared_names_after_the_records_own() -> None:
    record = SimpleNamespace(
        topic="t", partition=3, offset=41, headers=[("ghl-webhook-id", b"w1")], value=b"", key=None
    )
    headers = dead_letter_headers(record, "bad json")
    assert headers[0] == ("ghl-webhook-id", b"w1")
    assert tuple(name for name, _ in headers[1:]) == DEAD_LETTER_HEADERS
    assert headers[1:] == [
        ("x-dead-letter-reason", b"bad json"),
        ("x-source-topic", b"t"),
        ("x-source-partition", b"3"),
        ("x-source-offset", b"41"),
    ]


def test_canonical_snapshots_drop_what_only_list_answers_carry() -> None:
    hit = Contact.model_validate({"id": "c1", "firstName": "Ada", "searchAfter": [1, "c1"]})
    read = Contact.model_validate({"id": "c1", "firstName": "Ada"})
    assert canonical_contact(hit).model_dump(exclude_unset=True) == {"id": "c1", "firstName": "Ada"}
    assert canonical_contact(hit) == read
    assert canonical_contact(read) is read
    found = Task.model_validate({"id": "t1", "title": "Call", "locationId": "L1"})
    assert canonical_task(found).model_dump(exclude_unset=True) == {"id": "t1", "title": "Call"}
    assert (canonical_task(found).model_extra or {}) == {}
