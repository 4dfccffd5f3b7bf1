"""The composed Kafka settings reach a broker that demands SASL/SCRAM: the admin client, a
producer and a consumer built from `KafkaSettings.client_kwargs()` create a topic and carry a
record through it; a wrong password is refused. A service's own clients, built from its
settings composed with the SCRAM configuration, do the same: the poller's event sink creates
its topic (`ensure_topics`, with the configured durability) and produces, `ghl-sync tail`'s
reader reads it back; `ghl-sync lag` run with nothing but the shared `GHL_SYNC_KAFKA_*` and
`GHL_SYNC_DATABASE_*` variables reports over SCRAM; a topic is not created with more replicas
than the cluster has brokers.

The broker is a private one (free ports, its own data folder) started from the local stack's
cached jars with a SASL_PLAINTEXT listener and SCRAM-SHA-512 users created at format time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from services.platform.connections import KafkaSettings
from services.platform.diagnose import explain
from services.poller._sink import EventSink
from services.poller.settings import PollerSettings
from services.stack import StackSettings
from services.tail.reader import tail_events
from streams.admin import ensure_topics
from streams.settings import StreamsSettings
from tests.conftest import TestSettings
from tests.factories.events import history

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "ghl-sync", "scram-" + uuid.uuid4().hex
ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex


# WARN and up, plus the line that says the broker serves.
_LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _properties(data: Path, port: int, controller: int) -> str:
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{ADMIN_PASSWORD}";'
    )
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            "controller.listener.names=CONTROLLER",
            f"listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}",
            "inter.broker.listener.name=SASL_PLAINTEXT",
            "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={jaas}",
            f"log.dirs={data}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "num.network.threads=1",
            "num.io.threads=1",
            "log.cleaner.dedupe.buffer.size=8388608",
            "",
        ]
    )


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    stack = StackSettings()
    libs = ROOT / ".stack" / "kafka" / f"libs-{stack.kafka_version}"
    if not (libs / ".complete").exists():
        pytest.fail(f"no Kafka jars in {libs}: run `ghl-sync stack up` first")
    home = tmp_path_factory.mktemp("scram-broker")
    port, controller = _free_port(), _free_port()
    config = home / "server.properties"
    config.write_text(_properties(home / "data", port, controller))
    logging = home / "log4j2.properties"
    logging.write_text(_LOG4J2)
    classpath = f"{libs}/*"
    cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    formatted = subprocess.run(
        [stack.java, "-Xmx256m", "-cp", classpath, "kafka.tools.StorageTool", "format",
         "-t", cluster, "-c", str(config),
         "--add-scram", f"SCRAM-SHA-512=[name=admin,password={ADMIN_PASSWORD}]",
         "--add-scram", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    log = (home / "broker.out").open("wb")
    broker = subprocess.Popen(
        [stack.java, "-Xms128m", "-Xmx256m", "-XX:+UseG1GC",
         f"-Dlog4j2.configurationFile={logging}", "-cp", classpath, "kafka.Kafka", str(config)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    log.close()
    try:
        deadline = time.monotonic() + 120
        while b"Kafka Server started" not in (home / "broker.out").read_bytes():
            assert broker.poll() is None, (home / "broker.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "the SCRAM broker did not start in 120 s"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()


def _settings(bootstrap: str, password: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=USER,
        sasl_password=SecretStr(password),
    )


async def _first_record(topic: str, kwargs: dict[str, Any]) -> tuple[bytes | None, bytes | None]:
    """The key and value of the first record on `topic`, read with the client options `kwargs`."""
    consumer = AIOKafkaConsumer(topic, **kwargs, auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    return record.key, record.value


async def test_the_clients_work_against_a_scram_broker(scram_broker: str) -> None:
    kwargs = _settings(scram_broker, PASSWORD).client_kwargs()
    topic = f"scram-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**kwargs, request_timeout_ms=20000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**kwargs, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"over SCRAM", key=b"k")
    finally:
        await producer.stop()
    assert await _first_record(topic, kwargs) == (b"k", b"over SCRAM")


async def _connects(settings: KafkaSettings) -> bool:
    admin = AIOKafkaAdminClient(**settings.client_kwargs(), request_timeout_ms=5000)
    try:
        await admin.start()
        await admin.list_topics()
    except KafkaError:
        return False  # aiokafka reports a refused login as a failed bootstrap
    finally:
        with contextlib.suppress(KafkaError):
            await admin.close()
    return True


async def test_only_the_right_password_gets_in(scram_broker: str) -> None:
    assert await _connects(_settings(scram_broker, PASSWORD))
    assert not await _connects(_settings(scram_broker, "not-the-password"))
    plaintext = KafkaSettings(bootstrap_servers=scram_broker)
    assert not await _connects(plaintext)


async def _topic_config(kafka: KafkaSettings, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(**kafka.client_kwargs(), request_timeout_ms=20000)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    [(_, _, _, _, entries)] = response.resources
    return {entry[0]: entry[1] for entry in entries}


async def test_a_service_s_clients_work_against_a_scram_broker(scram_broker: str) -> None:
    kafka = _settings(scram_broker, PASSWORD)
    poller = PollerSettings(topic_prefix=f"scram-{uuid.uuid4().hex[:8]}.").with_kafka(kafka)
    events = history(seed=5, contacts=3, locations=1)
    sink = EventSink(poller.kafka, poller.events_topic, partitions=2)
    await sink.start()
    try:
        assert await sink.emit(events) == len(events)
    finally:
        await sink.stop()
    async with asyncio.timeout(60):
        read = [
            r.event
            async for r in tail_events(
                poller.kafka, poller.events_topic, from_beginning=True, stop_at_end=True
            )
        ]
    assert sorted(getattr(e, "event_id", e) for e in read) == sorted(e.event_id for e in events)
    config = await _topic_config(kafka, poller.events_topic)
    assert config["min.insync.replicas"] == "1"
    assert config["retention.ms"] == "-1"


async def test_one_command_runs_on_the_shared_variables_alone(
    scram_broker: str, test_settings: TestSettings, pg_schema: str
) -> None:
    prefix = f"scram-{uuid.uuid4().hex[:8]}."
    kafka = _settings(scram_broker, PASSWORD)
    await ensure_topics(kafka, [f"{prefix}ghl.events.v1"], partitions=3)
    sink = EventSink(kafka, f"{prefix}ghl.events.v1", partitions=3)
    await sink.start()
    try:
        sent = await sink.emit(history(seed=6, contacts=2, locations=1))
    finally:
        await sink.stop()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GHL_SYNC_")}
    result = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).with_name("ghl-sync")), "lag"],
        env={
            **clean,
            "GHL_SYNC_KAFKA_BOOTSTRAP_SERVERS": scram_broker,
            "GHL_SYNC_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "GHL_SYNC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "GHL_SYNC_KAFKA_SASL_USERNAME": USER,
            "GHL_SYNC_KAFKA_SASL_PASSWORD": PASSWORD,
            "GHL_SYNC_DATABASE_URL": test_settings.database_url,
            "GHL_SYNC_DATABASE_SCHEMA": pg_schema,
            "GHL_SYNC_STREAMS_TOPIC_PREFIX": prefix,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"total lag {sent}" in result.stdout, output
    assert PASSWORD not in output


async def test_a_topic_is_not_created_with_fewer_replicas_than_asked(scram_broker: str) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=scram_broker,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=USER,
        sasl_password=SecretStr(PASSWORD),
        topic_replication_factor=3,
        topic_min_insync_replicas=2,
    )
    topic = f"scram-durable-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ValueError, match="GHL_SYNC_KAFKA_TOPIC_REPLICATION_FACTOR=3") as caught:
        await ensure_topics(kafka, [topic], partitions=1)
    line = str(caught.value)
    assert "\n" not in line
    assert f"cannot create topic {topic} with 3 replicas" in line
    assert "GHL_SYNC_KAFKA_TOPIC_REPLICATION_FACTOR=3" in line
    assert "needs 3 brokers and the cluster has 1;" in line
    # What the CLI prints instead of a traceback.
    assert (explain(caught.value) or "").startswith(
        "bad setting GHL_SYNC_KAFKA_TOPIC_REPLICATION_FACTOR: cannot create topic"
    )
    admin = AIOKafkaAdminClient(**kafka.client_kwargs(), request_timeout_ms=20000)
    await admin.start()
    try:
        assert topic not in await admin.list_topics()
    finally:
        await admin.close()


async def test_the_faust_app_s_producer_sends_over_scram(scram_broker: str, tmp_path: Path) -> None:
    from streams.app import create_app

    kafka = _settings(scram_broker, PASSWORD)
    streams = StreamsSettings(data_dir=tmp_path, app_id=f"scram-{uuid.uuid4().hex[:8]}")
    app = create_app(streams.with_kafka(kafka))
    topic = f"{streams.app_id}-faust"
    await ensure_topics(kafka, [topic], partitions=1)
    producer = app.producer
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"k", b"from faust", None, None, None)
    finally:
        await producer.stop()
    assert await _first_record(topic, kafka.client_kwargs()) == (b"k", b"from faust")


async def test_the_worker_s_broker_probe_logs_in_over_scram(scram_broker: str) -> None:
    """The worker is ready only while its probe reaches the broker; over SCRAM too."""
    from services.platform.health import Readiness
    from services.platform.outage import Dependency
    from streams.worker import _watch_kafka

    ready = Readiness()
    ready.require("kafka")
    kafka = Dependency("kafka", log=logging.getLogger(__name__))
    probing = asyncio.create_task(_watch_kafka(_settings(scram_broker, PASSWORD), kafka, ready))
    try:
        async with asyncio.timeout(30):
            while ready.failing():
                assert not probing.done(), probing
                await asyncio.sleep(0.1)
    finally:
        probing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probing
    assert kafka.up
