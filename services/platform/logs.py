"""One logging setup for every ghl-sync process: `configure_logging(LogSettings())`.

Entry points call it once (the `ghl-sync` command line does, before any command runs);
nothing else configures logging. It gives the root logger one handler on stderr:

- `GHL_SYNC_LOG_FORMAT=text` (the default): `time level logger message`, one line per record
  (a traceback follows on its own lines), never an ANSI colour code;
- `GHL_SYNC_LOG_FORMAT=json`: one JSON object per line (`time`, `level`, `logger`,
  `message`, plus `exc_type`/`exc` when an exception is attached), for log shippers.

`GHL_SYNC_LOG_LEVEL` sets the root level. Request logs (httpx's `HTTP Request: ...` and
uvicorn's access lines) are demoted to DEBUG by a filter on the handler, so they show only
at `GHL_SYNC_LOG_LEVEL=DEBUG` whatever level a library sets on its own logger.

Faust's worker (through `mode`) replaces the root handlers when it starts;
`worker_logging_config()` is the configuration that makes it keep this setup instead.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "REQUEST_LOGGERS",
    "LogSettings",
    "build_handler",
    "configure_logging",
    "worker_logging_config",
]

REQUEST_LOGGERS = ("httpx", "uvicorn.access")
"""Loggers that write one line per HTTP request: DEBUG, not INFO."""

_QUIET = {"httpcore": logging.WARNING, "aiokafka": logging.WARNING}
"""Per-connection chatter (subscriptions, coordinators, HTTP traces), shown only at DEBUG."""

_HANDLER_NAME = "ghl-sync"


class LogSettings(BaseSettings):
    """How every ghl-sync process logs (env prefix `GHL_SYNC_LOG_`)."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_LOG_", frozen=True)

    format: Literal["text", "json"] = Field(
        default="text", description="`text` (one plain line per record) or `json` (JSON lines)."
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO",
        description="Lowest level logged; `DEBUG` adds one line per HTTP request.",
    )


class _DemoteRequests(logging.Filter):
    """Request logs are DEBUG; dropped unless the handler's level lets DEBUG through."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self._level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in REQUEST_LOGGERS or record.name.startswith("uvicorn.access."):
            if record.levelno == logging.INFO:
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return record.levelno >= self._level
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        # Libraries that colour their own messages (faust's banners) lose the codes here.
        return _strip_ansi(super().format(record))


def _strip_ansi(text: str) -> str:
    if "\x1b[" not in text:
        return text
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def build_handler(settings: LogSettings, stream: TextIO | None = None) -> logging.Handler:
    """The handler `configure_logging` installs: on `stream`, stderr by default."""
    level = logging.getLevelNamesMapping()[settings.level]
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setLevel(level)
    handler.setFormatter(_JsonFormatter() if settings.format == "json" else _TextFormatter())
    handler.addFilter(_DemoteRequests(level))
    return handler


def configure_logging(settings: LogSettings) -> None:
    """Give the root logger ghl-sync's handler (replacing one set before), at the set level.

    Handlers that others attached (a test runner's capture) stay; the later `basicConfig`
    calls of libraries and services do nothing once the root logger has a handler.
    """
    level = logging.getLevelNamesMapping()[settings.level]
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(build_handler(settings))
    root.setLevel(level)
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else max(quiet, level))


def worker_logging_config(settings: LogSettings) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict for `faust.Worker(logging_config=...)`.

    `mode` (under faust) clears the root handlers when the worker starts and installs a
    colouring handler of its own unless given a configuration; this one puts back the handler
    `configure_logging` builds, at the same level.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {_HANDLER_NAME: {"()": build_handler, "settings": settings}},
        "root": {"level": settings.level, "handlers": [_HANDLER_NAME]},
    }
