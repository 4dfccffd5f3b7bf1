"""Human-readable reasons for decode failures, shared by webhook and event decoding."""

from __future__ import annotations

from pydantic import ValidationError

_SHOWN_ERRORS = 3
_SHOWN_INPUT = 80


def describe_validation_error(exc: ValidationError, *, drop_prefix: str | None = None) -> str:
    """Name the failing fields of `exc`, e.g. `payload.id: Field required`.

    `drop_prefix` removes a leading location item (the tag pydantic adds for a union member).
    """
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    parts = []
    for error in errors[:_SHOWN_ERRORS]:
        loc = list(error["loc"])
        if loc and drop_prefix is not None and loc[0] == drop_prefix:
            loc = loc[1:]
        where = ".".join(str(item) for item in loc) or "<root>"
        parts.append(f"{where}: {error['msg']}")
    if len(errors) > _SHOWN_ERRORS:
        parts.append(f"and {len(errors) - _SHOWN_ERRORS} more")
    return "invalid fields: " + "; ".join(parts)


def short_repr(value: object) -> str:
    """`repr(value)` cut to a length that is safe to put in a log line or a DLQ header."""
    text = repr(value)
    if len(text) > _SHOWN_INPUT:
        return text[: _SHOWN_INPUT - 3] + "..."
    return text
