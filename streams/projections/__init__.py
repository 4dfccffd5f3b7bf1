"""Projections: the tables APPNAME reads, built from `ghl.events`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from streams.projections.rows import (
        CHILD_TABLES,
        TABLES,
        Key,
        RowImage,
        Stamp,
        hidden_by_contact,
        newest_rows,
        reference_tables,
        row_for,
    )
    from streams.projections.store import BatchOutcome, ConsumedRecord, DeadLetter, ProjectionStore
    from streams.projections.verify import TableRows, diff_tables, dump_tables, rows_from_images

__all__ = [
    "CHILD_TABLES",
    "TABLES",
    "BatchOutcome",
    "ConsumedRecord",
    "DeadLetter",
    "Key",
    "ProjectionStore",
    "RowImage",
    "Stamp",
    "TableRows",
    "diff_tables",
    "dump_tables",
    "hidden_by_contact",
    "newest_rows",
    "reference_tables",
    "row_for",
    "rows_from_images",
]

__getattr__, __dir__ = lazy_exports(__name__)
