"""A package's public names loaded on first use (PEP 562 module `__getattr__`).

`ghl-sync <command> --help` imports the command's package; a package `__init__` that imported
every submodule would make each `--help` pay for asyncpg, aiokafka, fastapi and the event
schemas (the CLI's start-up budget is one second). Such a package keeps its imports under
`if TYPE_CHECKING:` (mypy reads them there) and ends with

    __getattr__, __dir__ = lazy_exports(__name__)

`lazy_exports` reads those same `from module import name` lines from the package's source, so
what mypy checks and what runs cannot drift apart; a name is imported from its module the first
time it is used, then kept in the package.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["lazy_exports"]

_MACHINERY = frozenset({"TYPE_CHECKING", "annotations", "lazy_exports"})
"""Names a lazy `__init__` imports for itself, not part of the package: left out of `dir()`."""


def _homes(source: str) -> dict[str, str]:
    """Name -> module of every `from module import name` under `if TYPE_CHECKING:`."""
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        test = getattr(node, "test", None)
        if not (isinstance(node, ast.If) and isinstance(test, ast.Name)):
            continue
        if test.id != "TYPE_CHECKING":
            continue
        for line in node.body:
            if isinstance(line, ast.ImportFrom) and line.module and not line.level:
                found.update((a.asname or a.name, line.module) for a in line.names)
    return found


def lazy_exports(package: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package` (its `__name__`)."""
    module_file = sys.modules[package].__file__
    if module_file is None:
        raise ImportError(f"{package} has no source to read its lazy names from")
    home_of = _homes(Path(module_file).read_text(encoding="utf-8"))

    def __getattr__(name: str) -> Any:
        home = home_of.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        names = set(vars(sys.modules[package])) - _MACHINERY
        return sorted(names | set(home_of))

    return __getattr__, __dir__
