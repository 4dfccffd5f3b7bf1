"""`python -m services.writer`: the writer without the `ghl-sync` wrapper (tests, supervisors)."""

from services.writer.cli import main

main()
