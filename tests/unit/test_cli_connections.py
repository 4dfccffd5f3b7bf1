"""The composed connection settings: aiokafka and Faust arguments for every security protocol,
and a refusal, naming the variables, of a configuration that cannot work."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr, ValidationError

from services.db.settings import DatabaseSettings
from services.platform.connections import Connections, KafkaSettings
from services.platform.diagnose import explain


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed CA certificate in PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ghl-sync test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_plaintext_by_default() -> None:
    kafka = KafkaSettings(bootstrap_servers="k1:9092,k2:9092")
    assert kafka.client_kwargs() == {
        "bootstrap_servers": "k1:9092,k2:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert kafka.faust_kwargs() == {"broker": "kafka://k1:9092;kafka://k2:9092"}


def test_sasl_ssl_with_scram_and_a_ca_file(ca_file: Path) -> None:
    kafka = KafkaSettings(
        bootstrap_servers="broker.example:9096",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="ghl-sync",
        sasl_password=SecretStr("s3cret-pw"),
        ssl_ca_file=ca_file,
    )
    kwargs = kafka.client_kwargs()
    context = kwargs.pop("ssl_context")
    assert kwargs == {
        "bootstrap_servers": "broker.example:9096",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ghl-sync",
        "sasl_plain_password": "s3cret-pw",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    subjects = [dict(x[0] for x in c["subject"]) for c in context.get_ca_certs()]
    assert {"commonName": "ghl-sync test CA"} in subjects
    assert "s3cret-pw" not in repr(kafka)
    credentials = kafka.faust_kwargs()["broker_credentials"]
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.username == "ghl-sync"


def test_tls_without_sasl(ca_file: Path) -> None:
    kafka = KafkaSettings(security_protocol="SSL", ssl_ca_file=ca_file, ssl_check_hostname=False)
    kwargs = kafka.client_kwargs()
    assert kwargs["security_protocol"] == "SSL"
    assert not kwargs["ssl_context"].check_hostname
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert "sasl_mechanism" not in kwargs
    assert kafka.faust_kwargs()["broker_credentials"].protocol.value == "SSL"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"security_protocol": "SASL_SSL"}, "GHL_SYNC_KAFKA_SASL_MECHANISM"),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"},
            "GHL_SYNC_KAFKA_SASL_USERNAME",
        ),
        ({"sasl_username": "u", "sasl_password": "p"}, "GHL_SYNC_KAFKA_SECURITY_PROTOCOL"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTH"}, "SASL_MECHANISM"),
        ({"security_protocol": "TLS"}, "GHL_SYNC_KAFKA_SECURITY_PROTOCOL"),
        ({"security_protocol": "SSL", "ssl_ca_file": "/nonexistent/ca.pem"}, "SSL_CA_FILE"),
    ],
)
def test_a_configuration_that_cannot_work_is_refused(values: dict[str, str], named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        KafkaSettings(**values)  # type: ignore[arg-type]
    line = explain(caught.value)
    assert line is not None
    assert line.startswith("bad setting ")
    assert named in line
    assert "'p'" not in line


def test_a_client_certificate_needs_its_key(ca_file: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        KafkaSettings(security_protocol="SSL", ssl_cert_file=ca_file)


def test_connections_compose_kafka_and_the_database_url() -> None:
    connections = Connections(
        kafka=KafkaSettings(bootstrap_servers="kafka:19092"),
        database=DatabaseSettings(url=SecretStr("postgresql://u:pw@db:5432/sync")),
    )
    assert connections.database_url.get_secret_value() == "postgresql://u:pw@db:5432/sync"
    assert connections.kafka_client_kwargs(acks="all") == {
        "bootstrap_servers": "kafka:19092",
        "security_protocol": "PLAINTEXT",
        "acks": "all",
    }
