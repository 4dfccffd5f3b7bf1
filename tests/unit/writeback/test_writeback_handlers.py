"""The writer's handler table is closed: one handler per registered command type, no more."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schemas import (
    COMMAND_TYPES,
    CommandBase,
    CreateContact,
    CreateTask,
    DeleteAppointment,
    DeleteContact,
    DeleteNote,
    DeleteTask,
)
from services.writer import SUPPORTED_OPERATIONS
from services.writer._context import ApplyContext
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


class _DeletesEverything:
    """A GHL client stand-in that answers every delete "done"."""

    def __getattr__(self, name: str) -> Any:
        assert name.startswith("delete_"), name

        async def deleted(*args: Any, **kwargs: Any) -> bool:
            return True

        return deleted


@pytest.mark.parametrize(
    ("command", "event_type", "entity_id"),
    [
        (DeleteContact(command_id="x", location_id="L", contact_id="c"), "contact.deleted", "c"),
        (
            DeleteTask(command_id="x", location_id="L", contact_id="c", task_id="t"),
            "task.deleted",
            "t",
        ),
        (
            DeleteNote(command_id="x", location_id="L", contact_id="c", note_id="n"),
            "note.deleted",
            "n",
        ),
        (
            DeleteAppointment(command_id="x", location_id="L", contact_id="c", appointment_id="a"),
            "appointment.deleted",
            "a",
        ),
    ],
)
async def test_a_delete_handler_publishes_its_tombstone(
    command: CommandBase, event_type: str, entity_id: str
) -> None:
    at = datetime(2026, 5, 1, tzinfo=UTC)
    ctx = ApplyContext(
        client=_DeletesEverything(),  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]
        settings=None,  # type: ignore[arg-type]
        clock=lambda: at,
        row=None,  # type: ignore[arg-type]
        check=None,  # type: ignore[arg-type]
    )
    outcome = await HANDLERS[type(command)].handle(ctx, command)
    assert (outcome.state, outcome.entity_id, outcome.contact_id) == ("succeeded", entity_id, "c")
    [event] = outcome.events
    assert (event.event_type, event.entity_id, event.contact_id) == (event_type, entity_id, "c")
    assert event.causation_id == "x"
