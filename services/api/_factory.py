"""`app()` for uvicorn's multi-worker mode: every worker reads the settings and builds its app."""

from __future__ import annotations

from fastapi import FastAPI

from services.api.app import create_app
from services.api.settings import ApiSettings
from services.platform.outage import quiet_kafka_logs

__all__ = ["app"]


def app() -> FastAPI:
    """The API app with settings from the environment (read at the worker's entry point)."""
    quiet_kafka_logs()
    return create_app(ApiSettings())
