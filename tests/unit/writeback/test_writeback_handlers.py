"""The writer's handler table is closed: one handler per registered command type, no more."""

from __future__ import annotations

import pytest

from schemas import COMMAND_TYPES, CreateContact, CreateTask
from services.writer import SUPPORTED_OPERATIONS
from services.writer._handlers import HANDLERS, IncompleteHandlerTable, build_table


def test_every_registered_command_type_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == set(COMMAND_TYPES.values())
    assert [entry.command for entry in HANDLERS.values()] == list(HANDLERS)


def test_the_table_performs_the_operations_the_writer_declares() -> None:
    operations = [entry.operation for entry in HANDLERS.values()]
    assert len(operations) == len(set(operations))
    assert set(operations) == SUPPORTED_OPERATIONS


def test_a_missing_handler_is_refused() -> None:
    entries = [e for e in HANDLERS.values() if e.command is not CreateTask]
    with pytest.raises(IncompleteHandlerTable, match=r"no handler: task\.create"):
        build_table(entries)


def test_a_command_handled_twice_is_refused() -> None:
    entries = [*HANDLERS.values(), HANDLERS[CreateContact]]
    with pytest.raises(IncompleteHandlerTable, match="handled twice: CreateContact"):
        build_table(entries)


def test_a_handler_for_an_unregistered_class_is_refused() -> None:
    registry = {k: v for k, v in COMMAND_TYPES.items() if v is not CreateTask}
    with pytest.raises(IncompleteHandlerTable, match="not a registered command: CreateTask"):
        build_table(HANDLERS.values(), registry)
