"""`ghl-sync tail`: live events of `ghl.events`, decoded through the closed registry.

- `reader`: the filter (pure) and the reader that yields decoded events or decode errors
- `cli`: the command
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from services.tail.reader import EventFilter, TailedRecord, format_text, tail_events

__all__ = ["EventFilter", "TailedRecord", "format_text", "tail_events"]

__getattr__, __dir__ = lazy_exports(__name__)
