"""Faust's own Kafka clients follow the outage policy's pacing (`kafka_client_options`):
faust has no setting for aiokafka's retry backoff, so the app's transport sets it."""

from __future__ import annotations

from pathlib import Path

from services.platform.outage import kafka_client_options
from streams.app import create_app
from streams.settings import StreamsSettings

BACKOFF_MS = kafka_client_options()["retry_backoff_ms"]


async def test_the_faust_consumer_retries_at_the_policys_pace(tmp_path: Path) -> None:
    app = create_app(StreamsSettings(app_id="pacing-test", data_dir=tmp_path))
    thread = app.consumer._thread  # type: ignore[attr-defined]
    consumer = thread._create_consumer(loop=None)
    try:
        assert consumer._client._retry_backoff == BACKOFF_MS / 1000
        # What the fetcher and the group coordinator are given when the consumer starts.
        assert consumer._retry_backoff_ms == BACKOFF_MS
    finally:
        await consumer.stop()
        thread.thread_loop.close()  # the consumer thread's own loop, never started here
    assert BACKOFF_MS > 100  # aiokafka's default, the reconnect storm of issue 13


async def test_the_faust_producer_retries_at_the_policys_pace(tmp_path: Path) -> None:
    app = create_app(StreamsSettings(app_id="pacing-test", data_dir=tmp_path))
    producer = app.producer._new_producer()  # type: ignore[attr-defined]
    try:
        assert producer.client._retry_backoff == BACKOFF_MS / 1000
        assert producer._sender._retry_backoff == BACKOFF_MS / 1000
    finally:
        await producer.stop()
