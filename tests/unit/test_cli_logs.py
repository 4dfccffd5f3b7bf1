"""The one logging setup: text or JSON lines, the level, request logs only at DEBUG, no ANSI."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from services.platform.logs import LogSettings, build_handler, worker_logging_config


def emit(settings: LogSettings, name: str, level: int, message: str) -> str:
    stream = io.StringIO()
    handler = build_handler(settings, stream)
    record = logging.LogRecord(name, level, __file__, 1, message, None, None)
    if record.levelno >= handler.level:  # as Logger.callHandlers does; handle() filters
        handler.handle(record)
    return stream.getvalue()


def test_json_lines() -> None:
    line = emit(LogSettings(format="json"), "services.poller", logging.WARNING, 'a "quoted" word')
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "services.poller"
    assert entry["message"] == 'a "quoted" word'
    assert entry["time"].endswith("+00:00")


def test_json_carries_the_exception() -> None:
    stream = io.StringIO()
    handler = build_handler(LogSettings(format="json"), stream)
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, True)
        record.exc_info = sys.exc_info()
    handler.handle(record)
    entry = json.loads(stream.getvalue())
    assert entry["exc_type"] == "ValueError"
    assert "Traceback" in entry["exc"]


def test_text_has_no_ansi_codes() -> None:
    line = emit(LogSettings(), "faust.worker", logging.INFO, "\x1b[32mReady\x1b[0m")
    assert "\x1b" not in line
    assert line.rstrip().endswith("INFO faust.worker Ready")


@pytest.mark.parametrize("name", ["httpx", "uvicorn.access"])
def test_request_logs_show_only_at_debug(name: str) -> None:
    assert emit(LogSettings(level="INFO"), name, logging.INFO, "GET /x 200") == ""
    shown = emit(LogSettings(level="DEBUG"), name, logging.INFO, "GET /x 200")
    assert " DEBUG " in shown


def test_the_level_filters() -> None:
    assert emit(LogSettings(level="WARNING"), "services.api", logging.INFO, "hello") == ""
    assert "hello" in emit(LogSettings(level="WARNING"), "services.api", logging.ERROR, "hello")


def test_the_worker_config_builds_the_same_handler() -> None:
    import logging.config

    config = worker_logging_config(LogSettings(format="json", level="WARNING"))
    logger = logging.getLogger("test-worker-logging")
    # Applied to a private logger, so the test leaves the root logger alone.
    config = {**config, "loggers": {logger.name: config["root"]}}
    del config["root"]
    logging.config.dictConfig(config)
    try:
        (handler,) = logger.handlers
        assert logger.level == logging.WARNING
        assert isinstance(handler.formatter, logging.Formatter)
        record = logging.LogRecord(logger.name, logging.ERROR, __file__, 1, "m", None, None)
        assert json.loads(handler.format(record))["message"] == "m"
    finally:
        logger.handlers.clear()
