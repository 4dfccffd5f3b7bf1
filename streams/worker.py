"""`ghl-sync worker`: the Faust worker running ghl-sync's stream processors."""

from __future__ import annotations

import asyncio

import faust
import prometheus_client

from streams.admin import ensure_topics
from streams.app import create_app
from streams.normalize import register_normalize
from streams.projections.consumer import ProjectionConsumer
from streams.settings import StreamsSettings
from streams.topics import topic_names

__all__ = ["build_worker_app", "run_worker"]


def build_worker_app(settings: StreamsSettings) -> faust.App:
    """The Faust app with every processor of the worker attached."""
    app = create_app(settings)
    if "projections" in settings.processors:
        projections = ProjectionConsumer(settings)

        async def run_projections() -> None:
            await projections.run()

        app.task(run_projections)
    if "normalize" in settings.processors:
        register_normalize(app, settings)
    return app


def run_worker(settings: StreamsSettings, *, loglevel: str = "info") -> None:
    """Create the topics, then run the worker until it is stopped."""
    asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap_servers,
            topic_names(settings).all(),
            partitions=settings.topic_partitions,
        )
    )
    if settings.metrics_port:
        prometheus_client.start_http_server(settings.metrics_port)
    app = build_worker_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
