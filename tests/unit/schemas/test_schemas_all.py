"""`schemas.__all__` is sorted, and complete: every public name of every module is exported."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import schemas


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 keeps: SCREAMING_CASE, then CamelCase, then everything else.
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def _modules() -> list[ModuleType]:
    names = sorted(info.name for info in pkgutil.iter_modules(schemas.__path__))
    return [importlib.import_module(f"schemas.{name}") for name in names]


def _defined_public_names(module: ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        # pydantic stores parametrised generics such as `UpsertedEvent[Task]` in the module.
        if name.isidentifier()
        and not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }


def test_all_is_sorted_without_duplicates() -> None:
    assert schemas.__all__ == sorted(schemas.__all__, key=_isort_key)
    assert len(set(schemas.__all__)) == len(schemas.__all__)


def test_every_module_lists_what_it_defines() -> None:
    for module in _modules():
        exported = set(getattr(module, "__all__", ()))
        if module.__name__.rsplit(".", 1)[1].startswith("_") and not exported:
            continue  # a private helper module with nothing to export
        missing = _defined_public_names(module) - exported
        assert not missing, f"{module.__name__} defines but does not export {sorted(missing)}"


def test_package_exports_every_module_export() -> None:
    expected: set[str] = set()
    for module in _modules():
        expected.update(getattr(module, "__all__", ()))
    assert set(schemas.__all__) == expected
    for name in schemas.__all__:
        assert hasattr(schemas, name), name
