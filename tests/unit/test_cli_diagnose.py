"""Faults become one line naming the variable; secrets never appear; other errors are left
alone (None: the caller keeps the traceback)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError

from services.api.settings import ApiSettings
from services.ghl.settings import GhlSettings
from services.platform.connections import KafkaSettings
from services.platform.diagnose import explain
from services.simulator.settings import SimulatorSettings


def test_a_bad_value_names_the_variable_and_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        ApiSettings(port="eighty")
    line = explain(caught.value)
    assert line is not None
    assert line.startswith("bad setting GHL_SYNC_API_PORT: ")
    assert "'eighty'" in line


def test_a_bad_secret_is_not_echoed() -> None:
    with pytest.raises(ValidationError) as caught:
        GhlSettings(client_secret=["hunter2"])
    line = explain(caught.value)
    assert line is not None
    assert "GHL_SYNC_GHL_CLIENT_SECRET" in line
    assert "hunter2" not in line


def test_a_list_that_is_not_json(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("GHL_SYNC_API_API_KEYS=key1\n")
    with pytest.raises(SettingsError) as caught:
        ApiSettings(_env_file=env)  # type: ignore[call-arg]
    assert explain(caught.value) == (
        'bad setting GHL_SYNC_API_API_KEYS: not valid JSON; it takes a JSON list, e.g. ["a", "b"]'
    )


def _bind(settings: SimulatorSettings) -> None:
    raise OSError(
        errno.EADDRINUSE,
        f"error while attempting to bind on address ('127.0.0.1', {settings.port}): "
        "address already in use",
    )


def test_a_busy_port_names_the_setting_that_chose_it() -> None:
    with pytest.raises(OSError, match="address already in use") as caught:
        _bind(SimulatorSettings(port=18999))
    assert explain(caught.value) == (
        "cannot listen on 127.0.0.1:18999: the port is in use by another process; "
        "set GHL_SYNC_SIMULATOR_PORT (or the command's port option) to a free port"
    )


def _cipher(settings: GhlSettings) -> None:
    if len(settings.token_encryption_key.get_secret_value()) != 44:
        raise ValueError("token encryption key must be 32 bytes (URL-safe base64)")


def test_a_malformed_key_names_its_variable_and_hides_it() -> None:
    with pytest.raises(ValueError, match="32 bytes") as caught:
        _cipher(GhlSettings(token_encryption_key=SecretStr("short-s3cret")))
    line = explain(caught.value)
    assert line == (
        "bad setting GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY: token encryption key must be 32 bytes "
        "(URL-safe base64)"
    )
    assert "s3cret" not in line


@pytest.mark.parametrize(
    "error", [RuntimeError("a bug"), KeyError("x"), ValueError("nothing about settings")]
)
def test_anything_else_is_left_to_the_traceback(error: Exception) -> None:
    assert explain(error) is None


def _bootstrap(kafka: KafkaSettings) -> None:
    host, port = kafka.bootstrap_servers.split(":")
    raise KafkaConnectionError(f"Unable to bootstrap from [('{host}', {port}, 2)]")


def test_kafka_down_names_the_bootstrap_and_with_sasl_the_login() -> None:
    with pytest.raises(KafkaConnectionError) as caught:
        _bootstrap(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    assert explain(caught.value) == (
        "cannot reach Kafka at 127.0.0.1:1 (no broker answered); is it running? "
        "check GHL_SYNC_KAFKA_BOOTSTRAP_SERVERS"
    )
    sasl = KafkaSettings(
        bootstrap_servers="127.0.0.1:1",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="u",
        sasl_password=SecretStr("pw-s3cret"),
    )
    with pytest.raises(KafkaConnectionError) as caught:
        _bootstrap(sasl)
    line = explain(caught.value)
    assert line is not None
    assert line.endswith("the SASL login may be refused: check GHL_SYNC_KAFKA_SASL_*")
    assert "s3cret" not in line
