"""Start-up time of the command line: `ghl-sync --help` and every command's `--help`.

Each is run `--runs` times as a child process (the installed console script, a fresh
interpreter each time); the median wall time is printed beside the load average, slowest
first. `--help` needs a command's module imported (its options are declared there), so a
command whose module imports its service's libraries at the top pays for them here.

    .venv/bin/python bench/cli_help.py                   # every command, 3 runs each
    .venv/bin/python bench/cli_help.py run api --runs 5  # only these

Target (issue 14): `ghl-sync --help` and `ghl-sync run --help` under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.cli import COMMANDS

GHL_SYNC = str(Path(sys.executable).with_name("ghl-sync"))
_IN_CLI = ("migrate", "worker", "settings", "stack", "schemas")
"""Commands defined in services/cli.py itself (the rest are in COMMANDS)."""


def _seconds(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([GHL_SYNC, *args], check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commands", nargs="*", help="commands to time (default: all)")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    names = options.commands or ["", *_IN_CLI, *dict.fromkeys(name for name, *_ in COMMANDS)]
    rows = []
    for name in names:
        args = [name, "--help"] if name else ["--help"]
        times = [_seconds(args) for _ in range(options.runs)]
        rows.append((statistics.median(times), name or "(root)", times, _load()))
    for median, name, times, load in sorted(rows, reverse=True):
        runs = " ".join(f"{t:.2f}" for t in times)
        print(f"{name:<15} median {median:5.2f} s   runs {runs}   load {load}")


if __name__ == "__main__":
    main()
