"""A package's public names loaded on first use (PEP 562 module `__getattr__`).

`ghl-sync <command> --help` imports the command's package; a package `__init__` that imported
every submodule would make each `--help` pay for asyncpg, aiokafka, fastapi and the event
schemas (the CLI's start-up budget is one second). Such a package names its exports here and
keeps the real imports under `TYPE_CHECKING` for mypy:

    __getattr__, __dir__ = lazy_exports(__name__, {"services.poller.poller": ("Poller",)})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]

_MACHINERY = frozenset({"TYPE_CHECKING", "annotations", "lazy_exports"})
"""Names a lazy `__init__` imports for itself, not part of the package: left out of `dir()`."""


def lazy_exports(
    package: str, homes: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`; `homes`: module -> the names it defines."""
    home_of = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = home_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        names = set(vars(sys.modules[package])) - _MACHINERY
        return sorted(names | set(home_of))

    return __getattr__, __dir__
