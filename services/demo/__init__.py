"""`ghl-sync demo`: the whole sync against the GHL simulator, end to end."""

from services.demo.run import DemoReport, print_report, run_demo
from services.demo.settings import DemoSettings

__all__ = ["DemoReport", "DemoSettings", "print_report", "run_demo"]
