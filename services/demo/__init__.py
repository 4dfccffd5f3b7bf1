"""`ghl-sync demo`: the whole sync against the GHL simulator, end to end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from services.demo.run import DemoReport, print_report, run_demo
    from services.demo.settings import DemoSettings

__all__ = ["DemoReport", "DemoSettings", "print_report", "run_demo"]

__getattr__, __dir__ = lazy_exports(__name__)
