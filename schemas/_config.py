"""The model configuration of the contracts we publish: canonical events and APPNAME's commands."""

from __future__ import annotations

from pydantic import ConfigDict

PUBLISHED_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    use_attribute_docstrings=True,
    # The encoders leave out null fields (absent means null); the published schemas therefore
    # list only the fields that always have a value as required.
    json_schema_serialization_defaults_required=False,
)
"""Frozen, unknown keys refused, attribute docstrings in the JSON Schema."""
