"""Packages whose public names load on first use (`services.platform.lazy`): every name of
`__all__` is declared under `TYPE_CHECKING` (where mypy checks it) and resolves to the object
its module defines, and `dir()` lists exactly the package's own names."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from services.platform.lazy import _homes

ROOT = Path(__file__).resolve().parents[2]

LAZY = sorted(
    ".".join(path.relative_to(ROOT).parent.parts)
    for top in ("services", "streams")
    for path in (ROOT / top).glob("*/__init__.py")
    if "lazy_exports(__name__)" in path.read_text(encoding="utf-8")
)


def test_the_service_packages_are_lazy() -> None:
    assert {"services.ghl", "services.poller", "services.writer", "services.api"} <= set(LAZY)
    assert "streams.projections" in LAZY


@pytest.mark.parametrize("package", LAZY)
def test_every_public_name_resolves_from_its_module(package: str) -> None:
    module = importlib.import_module(package)
    homes = _homes(Path(module.__file__ or "").read_text(encoding="utf-8"))
    assert set(homes) == set(module.__all__)
    for name, home in homes.items():
        assert getattr(module, name) is getattr(importlib.import_module(home), name)
    assert set(module.__all__) <= set(dir(module))
    assert {"TYPE_CHECKING", "lazy_exports"}.isdisjoint(dir(module))


def test_an_unknown_name_is_an_attribute_error() -> None:
    poller = importlib.import_module("services.poller")
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        poller.Nope  # noqa: B018
