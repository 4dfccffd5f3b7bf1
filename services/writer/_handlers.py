"""The writer's closed handler table: exactly one handler per registered command type.

`HANDLERS` maps each class of `schemas.COMMAND_TYPES` to its `HandlerEntry`; `build_table`
refuses a table that misses a command type, names one twice, or names a class the registry does
not hold, so a command added to `schemas.commands` fails at import until it has a handler.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schemas import COMMAND_TYPES, CommandBase
from services.writer._activity_handlers import ACTIVITY_HANDLERS
from services.writer._contact_handlers import CONTACT_HANDLERS
from services.writer._context import HandlerEntry

__all__ = ["HANDLERS", "IncompleteHandlerTable", "build_table"]


class IncompleteHandlerTable(ValueError):
    """A handler table that does not hold exactly one handler per registered command type."""


def build_table(
    entries: Iterable[HandlerEntry],
    registry: Mapping[str, type[CommandBase]] = COMMAND_TYPES,
) -> Mapping[type[CommandBase], HandlerEntry]:
    """The table keyed by command class, checked against `registry`."""
    table: dict[type[CommandBase], HandlerEntry] = {}
    twice: list[str] = []
    for entry in entries:
        if entry.command in table:
            twice.append(entry.command.__name__)
        table[entry.command] = entry
    registered = set(registry.values())
    problems = [f"handled twice: {name}" for name in sorted(twice)]
    problems += [
        f"no handler: {registry_type}"
        for registry_type, cls in sorted(registry.items())
        if cls not in table
    ]
    problems += [
        f"not a registered command: {cls.__name__}" for cls in table if cls not in registered
    ]
    if problems:
        raise IncompleteHandlerTable("; ".join(problems))
    return table


HANDLERS: Mapping[type[CommandBase], HandlerEntry] = build_table(
    [*CONTACT_HANDLERS, *ACTIVITY_HANDLERS]
)
"""Command class -> the one handler that applies it."""
