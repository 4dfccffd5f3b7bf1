"""Consoles for command output that is never cut: `output_console()`.

rich sizes a console to the terminal and falls back to 80 columns when the stream is a pipe
or a file, so a table piped to `grep` or a file loses its long ids to `…`. Here a console on
a terminal keeps the terminal's width; anywhere else it is wide enough for any row, and
colour is left out (rich already omits it off a terminal).
"""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["UNBOUNDED_WIDTH", "output_console"]

UNBOUNDED_WIDTH = 10_000
"""Columns given to output that does not go to a terminal: tables keep their natural width."""


def output_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that never truncates when the stream is not a TTY."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=UNBOUNDED_WIDTH)
