"""Custom fields by key: definitions as GHL describes them, typed values, and the translation
of APPNAME's `{key: value}` writes into GHL's `[{id, field_value}]`.

- `types`: pure (no I/O): `Definition`, `typed_value`, `read_values`, `to_ghl_writes`
- `filters`: pure: `?custom.<key>[.op]=value` list filters, checked against the definitions
- `store`: the definitions in PostgreSQL (`sync_definitions`, `load_definitions`)
- `sync`: `DefinitionSync`, when a location's definitions are read again (onboarding, the
  quota plan's schedule, an unknown id)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from services.customfields.filters import CustomFilter, parse_custom_filters
    from services.customfields.sync import DefinitionSync, SyncOutcome
    from services.customfields.types import (
        CustomFieldError,
        CustomValues,
        Definition,
        read_values,
        to_ghl_writes,
        typed_value,
        values_by_key,
    )

__all__ = [
    "CustomFieldError",
    "CustomFilter",
    "CustomValues",
    "Definition",
    "DefinitionSync",
    "SyncOutcome",
    "parse_custom_filters",
    "read_values",
    "to_ghl_writes",
    "typed_value",
    "values_by_key",
]

__getattr__, __dir__ = lazy_exports(__name__)
