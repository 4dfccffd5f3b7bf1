"""Request bodies of the GHL operations; the models live in `schemas.commands.requests`.

They are pure contracts, so APPNAME's command payloads in `schemas` can be built on them; this
module keeps the client's import path and exports the same names.
"""

from __future__ import annotations

from schemas.commands.requests import *  # noqa: F403 (the same public names, listed once)
from schemas.commands.requests import __all__ as __all__
