"""The one connection configuration reaches every service: one shared variable moves every
service's brokers and database, a service's own variable overrides it for that service alone,
the local stack's ports are the defaults, and the security and topic durability settings
reach every service's Kafka clients and the Faust app. Secrets never appear in `settings`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

from services.platform.connections import KafkaSettings, ServiceSettings
from services.platform.stack_address import LocalStackAddress
from services.settings_doc import SETTINGS
from services.stack.settings import StackSettings
from services.writer.settings import WriterSettings
from streams.settings import StreamsSettings

GHL_SYNC = Path(sys.executable).with_name("ghl-sync")
SERVICES = [cls for _, cls in SETTINGS if issubclass(cls, ServiceSettings)]
PASSWORD = "kafka-pw-5e1c"
DB_PASSWORD = "db-pw-77a0"


def _prefix(cls: type[BaseSettings]) -> str:
    return str(cls.model_config.get("env_prefix", ""))


def _settings_json(**env: str) -> tuple[dict[str, str], str]:
    """`ghl-sync settings --json` in a child with only `env` among the GHL_SYNC_ variables:
    (variable -> value shown, the whole output)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GHL_SYNC_")}
    result = subprocess.run(
        [str(GHL_SYNC), "settings", "--json"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return {row["variable"]: row["value"] for row in rows}, result.stdout + result.stderr


def test_every_service_has_the_connection_fields() -> None:
    names = {cls.__name__ for cls in SERVICES}
    assert {
        "StreamsSettings",
        "WebhookSettings",
        "PollerSettings",
        "ApiSettings",
        "WriterSettings",
    } <= names


def test_one_variable_moves_every_service_and_secrets_stay_masked() -> None:
    shown, output = _settings_json(
        GHL_SYNC_KAFKA_BOOTSTRAP_SERVERS="kafka-a.example:9096,kafka-b.example:9096",
        GHL_SYNC_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        GHL_SYNC_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        GHL_SYNC_KAFKA_SASL_USERNAME="ghl-sync",
        GHL_SYNC_KAFKA_SASL_PASSWORD=PASSWORD,
        GHL_SYNC_DATABASE_URL=f"postgresql://sync:{DB_PASSWORD}@db.example:5432/sync",
        GHL_SYNC_DATABASE_SCHEMA="sync",
        # One service pointed elsewhere: only that one moves.
        GHL_SYNC_WRITER_DATABASE_URL="postgresql://writer@db2.example:5432/commands",
    )
    for cls in SERVICES:
        prefix = _prefix(cls).upper()
        assert shown[f"{prefix}KAFKA_BOOTSTRAP_SERVERS"] == (
            "kafka-a.example:9096,kafka-b.example:9096"
        ), cls.__name__
        assert shown[f"{prefix}DATABASE_SCHEMA"] == "sync", cls.__name__
        expected = (
            "postgresql://writer@db2.example:5432/commands"
            if cls is WriterSettings
            else "postgresql://sync:****@db.example:5432/sync"
        )
        assert shown[f"{prefix}DATABASE_URL"] == expected, cls.__name__
    assert shown["GHL_SYNC_KAFKA_SASL_PASSWORD"] == "(secret)"
    assert PASSWORD not in output
    assert DB_PASSWORD not in output


def test_the_local_stack_s_ports_are_every_service_s_default() -> None:
    shown, _ = _settings_json(
        GHL_SYNC_STACK_KAFKA_PORT="19092", GHL_SYNC_STACK_POSTGRES_PORT="35432"
    )
    assert shown["GHL_SYNC_KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    assert shown["GHL_SYNC_DATABASE_URL"] == "postgresql://ghl_sync@127.0.0.1:35432/ghl_sync"
    for cls in SERVICES:
        prefix = _prefix(cls).upper()
        assert shown[f"{prefix}KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092", cls.__name__
        assert shown[f"{prefix}DATABASE_URL"] == (
            "postgresql://ghl_sync@127.0.0.1:35432/ghl_sync"
        ), cls.__name__


def test_the_stack_address_defaults_are_the_stack_s() -> None:
    address, stack = LocalStackAddress.model_fields, StackSettings.model_fields
    for name, field in address.items():
        assert field.default == stack[name].default, name


def _sasl(**extra: Any) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers="kafka.example:9096",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="ghl-sync",
        sasl_password=SecretStr(PASSWORD),
        **extra,
    )


def test_a_service_s_own_servers_keep_the_shared_security() -> None:
    settings = WriterSettings().with_kafka(_sasl(topic_replication_factor=3))
    assert settings.kafka_bootstrap_servers == "kafka.example:9096"
    moved = settings.model_copy(update={"kafka_bootstrap_servers": "writer-kafka:9096"})
    kwargs = moved.kafka.client_kwargs()
    assert kwargs["bootstrap_servers"] == "writer-kafka:9096"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert kwargs["sasl_plain_password"] == PASSWORD
    assert moved.kafka.topic_replication_factor == 3
    assert PASSWORD not in repr(moved)
    assert PASSWORD not in repr(moved.kafka)


def test_the_variable_a_value_came_from() -> None:
    inherited = WriterSettings()
    assert inherited.variable_of("kafka_bootstrap_servers") == "GHL_SYNC_KAFKA_BOOTSTRAP_SERVERS"
    assert inherited.variable_of("database_url") == "GHL_SYNC_DATABASE_URL"
    own = WriterSettings(kafka_bootstrap_servers="w:9092")
    assert own.variable_of("kafka_bootstrap_servers") == "GHL_SYNC_WRITER_KAFKA_BOOTSTRAP_SERVERS"
    assert own.variable_of("consumer_name") == "GHL_SYNC_WRITER_CONSUMER_NAME"


def test_the_faust_app_gets_the_credentials_and_the_replication_factor(tmp_path: Path) -> None:
    from streams.app import create_app

    settings = StreamsSettings(data_dir=tmp_path).with_kafka(
        _sasl(topic_replication_factor=3, topic_min_insync_replicas=2)
    )
    app = create_app(settings)
    assert [str(url) for url in app.conf.broker] == ["kafka://kafka.example:9096"]
    credentials = app.conf.broker_credentials
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert credentials.protocol.value == "SASL_PLAINTEXT"
    assert app.conf.topic_replication_factor == 3


def test_more_insync_replicas_than_copies_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        KafkaSettings(topic_replication_factor=2, topic_min_insync_replicas=3)
    message = str(caught.value)
    assert "GHL_SYNC_KAFKA_TOPIC_MIN_INSYNC_REPLICAS=3" in message
    assert "GHL_SYNC_KAFKA_TOPIC_REPLICATION_FACTOR=2" in message


@pytest.mark.parametrize(
    "own", [{}, {"GHL_SYNC_STREAMS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}], ids=["shared", "own"]
)
def test_a_bad_shared_setting_is_one_line_naming_its_variable(own: dict[str, str]) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GHL_SYNC_")}
    result = subprocess.run(
        [str(GHL_SYNC), "lag"],
        env={**clean, **own, "GHL_SYNC_KAFKA_SECURITY_PROTOCOL": "TLS"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: bad setting GHL_SYNC_KAFKA_SECURITY_PROTOCOL: Input should be 'PLAINTEXT', "
        "'SSL', 'SASL_PLAINTEXT' or 'SASL_SSL' (got 'TLS')"
    ], result.stderr
