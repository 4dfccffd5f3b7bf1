"""`ghl-sync tail`: live events of `ghl.events`, decoded through the closed registry.

- `reader`: the filter (pure) and the reader that yields decoded events or decode errors
- `cli`: the command
"""

from __future__ import annotations

from services.tail.reader import EventFilter, TailedRecord, format_text, tail_events

__all__ = ["EventFilter", "TailedRecord", "format_text", "tail_events"]
