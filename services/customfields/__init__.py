"""Custom fields by key: definitions as GHL describes them, typed values, and the translation
of APPNAME's `{key: value}` writes into GHL's `[{id, field_value}]`.

- `types`: pure (no I/O): `Definition`, `typed_value`, `values_by_key`, `to_ghl_writes`
"""

from __future__ import annotations

from services.customfields.types import (
    CustomFieldError,
    Definition,
    to_ghl_writes,
    typed_value,
    values_by_key,
)

__all__ = ["CustomFieldError", "Definition", "to_ghl_writes", "typed_value", "values_by_key"]
