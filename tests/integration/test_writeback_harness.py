"""The write-back tests import their world from here; it lives in `tests/factories/writeback.py`
and its fixtures are registered by `tests/integration/conftest.py`. No tests here."""

from __future__ import annotations

from tests.factories.writeback import *  # noqa: F403 (the same names, listed once, there)
from tests.factories.writeback import __all__ as __all__
