"""One connection configuration for every service: where Kafka and PostgreSQL are and how to
authenticate to them (env prefixes `GHL_SYNC_KAFKA_` and `GHL_SYNC_DATABASE_`).

- `KafkaSettings`: bootstrap servers, security protocol (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`,
  `SASL_SSL`), SASL mechanism (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`) and credentials, a
  CA file (and a client certificate for brokers that want mutual TLS).
  `client_kwargs()` gives the keyword arguments every aiokafka client takes (producer,
  consumer, admin); `faust_kwargs()` the broker URL and credentials of a Faust app.
  `topic_replication_factor` and `topic_min_insync_replicas` are how durable the topics
  ghl-sync creates are (1 and 1 for the single local broker; 3 and 2 in production).
- `ServiceSettings`: the base of every service's settings class (streams, webhooks, poller,
  API, writer; the tools read `StreamsSettings` and `DatabaseSettings`). Its
  `kafka_bootstrap_servers`, `database_url` and `database_schema` default to the shared
  `GHL_SYNC_KAFKA_BOOTSTRAP_SERVERS`, `GHL_SYNC_DATABASE_URL` and `GHL_SYNC_DATABASE_SCHEMA`;
  the service's own variable (`GHL_SYNC_WRITER_DATABASE_URL`, ...) overrides them for that
  service alone (`variable_of(field)` says which one a value came from). `settings.kafka` is
  the composed `KafkaSettings`: the service's brokers with the shared security and topic
  durability, which have no per-service override (one cluster, one way in).
- `Connections`: the Kafka settings and the PostgreSQL URL (`GHL_SYNC_DATABASE_URL`, the
  same variable `ghl-sync migrate` reads), built once by an entry point and passed down.
- `kafka_options(kafka)`: client keyword arguments from `KafkaSettings`, or from a bare
  bootstrap string (PLAINTEXT; local tools, tests and benchmarks).

Unset, the bootstrap servers and the database URL are the local stack's (`GHL_SYNC_STACK_HOST`,
`GHL_SYNC_STACK_KAFKA_PORT`, `GHL_SYNC_STACK_POSTGRES_PORT`), so a stack moved to other ports is
still found.

A configuration that cannot work is refused when it is read, naming the variables: SASL
without a mechanism or credentials, credentials on a protocol that does not send them,
TLS files that do not exist. Secrets are `SecretStr` and never appear in a repr or an error.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import Field, FilePath, PrivateAttr, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.db.settings import DatabaseSettings
from services.platform.stack_address import stack_default

__all__ = ["SHARED_VARIABLE", "Connections", "KafkaSettings", "ServiceSettings", "kafka_options"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseSettings):
    """How every ghl-sync process reaches Kafka (env prefix `GHL_SYNC_KAFKA_`)."""

    model_config = SettingsConfigDict(env_prefix="GHL_SYNC_KAFKA_", frozen=True)

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        description="Comma-separated `host:port` list of brokers of every service (a "
        "service's own `*_KAFKA_BOOTSTRAP_SERVERS` overrides it). Unset: the local stack's "
        "(`GHL_SYNC_STACK_HOST`, `GHL_SYNC_STACK_KAFKA_PORT`).",
    )
    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (managed Kafka: "
        "usually `SASL_SSL`).",
    )
    sasl_mechanism: SaslMechanism | None = Field(
        default=None,
        description="`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; required with SASL_*.",
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    ssl_ca_file: FilePath | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates (unset: the "
        "system's trust store).",
    )
    ssl_cert_file: FilePath | None = Field(
        default=None, description="Client certificate (PEM), for brokers that want mutual TLS."
    )
    ssl_key_file: FilePath | None = Field(
        default=None, description="Private key (PEM) of the client certificate."
    )
    ssl_check_hostname: bool = Field(
        default=True, description="Check that a broker's certificate names its host."
    )
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        description="Copies of every partition of the topics ghl-sync creates (production: 3). "
        "A topic is not created with fewer: with fewer brokers than this, creating it fails.",
    )
    topic_min_insync_replicas: int = Field(
        default=1,
        ge=1,
        description="`min.insync.replicas` of the topics ghl-sync creates (production: 2): a "
        "write (acks=all) succeeds only once this many copies hold it.",
    )

    @model_validator(mode="before")
    @classmethod
    def _stack_by_default(cls, data: Any) -> Any:
        return stack_default(data, "bootstrap_servers", lambda stack: stack.kafka_bootstrap)

    @model_validator(mode="after")
    def _coherent(self) -> KafkaSettings:
        sasl = self.security_protocol.startswith("SASL_")
        tls = self.security_protocol.endswith("SSL")
        if sasl and (
            self.sasl_mechanism is None or not self.sasl_username or self.sasl_password is None
        ):
            raise ValueError(
                f"GHL_SYNC_KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs "
                "GHL_SYNC_KAFKA_SASL_MECHANISM, GHL_SYNC_KAFKA_SASL_USERNAME and "
                "GHL_SYNC_KAFKA_SASL_PASSWORD"
            )
        if not sasl and (self.sasl_mechanism or self.sasl_username or self.sasl_password):
            raise ValueError(
                "GHL_SYNC_KAFKA_SASL_* is set but GHL_SYNC_KAFKA_SECURITY_PROTOCOL="
                f"{self.security_protocol} sends no credentials; use SASL_SSL or SASL_PLAINTEXT"
            )
        if not tls and (self.ssl_ca_file or self.ssl_cert_file or self.ssl_key_file):
            raise ValueError(
                "GHL_SYNC_KAFKA_SSL_* is set but GHL_SYNC_KAFKA_SECURITY_PROTOCOL="
                f"{self.security_protocol} does not use TLS; use SSL or SASL_SSL"
            )
        if (self.ssl_cert_file is None) != (self.ssl_key_file is None):
            raise ValueError(
                "GHL_SYNC_KAFKA_SSL_CERT_FILE and GHL_SYNC_KAFKA_SSL_KEY_FILE go together"
            )
        if self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError(
                f"GHL_SYNC_KAFKA_TOPIC_MIN_INSYNC_REPLICAS={self.topic_min_insync_replicas} is "
                "more than GHL_SYNC_KAFKA_TOPIC_REPLICATION_FACTOR="
                f"{self.topic_replication_factor}: no write could ever succeed"
            )
        return self

    @property
    def uses_tls(self) -> bool:
        """Whether connections to the brokers are encrypted."""
        return self.security_protocol.endswith("SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for the brokers (None on PLAINTEXT and SASL_PLAINTEXT)."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(
            cafile=str(self.ssl_ca_file) if self.ssl_ca_file else None
        )
        # Without the host name check the chain is still verified (CERT_REQUIRED).
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_cert_file is not None and self.ssl_key_file is not None:
            context.load_cert_chain(str(self.ssl_cert_file), str(self.ssl_key_file))
        return context

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `AIOKafkaProducer`, `AIOKafkaConsumer` and
        `AIOKafkaAdminClient`: servers, protocol, SASL credentials, TLS context."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        context = self.ssl_context()
        if context is not None:
            kwargs["ssl_context"] = context
        if self.sasl_mechanism is not None and self.sasl_password is not None:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return kwargs

    def faust_kwargs(self) -> dict[str, Any]:
        """`broker` (and `broker_credentials` when the brokers want them) for `faust.App`."""
        servers = [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]
        kwargs: dict[str, Any] = {"broker": ";".join(f"kafka://{s}" for s in servers)}
        context = self.ssl_context()
        if self.sasl_mechanism is not None and self.sasl_password is not None:
            from faust.auth import SASLCredentials

            kwargs["broker_credentials"] = SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password.get_secret_value(),
                mechanism=self.sasl_mechanism,
                ssl_context=context,
            )
        elif context is not None:
            from faust.auth import SSLCredentials

            kwargs["broker_credentials"] = SSLCredentials(context)
        return kwargs


@dataclass(frozen=True)
class Connections:
    """Kafka and PostgreSQL for one process, read once by its entry point."""

    kafka: KafkaSettings
    database: DatabaseSettings

    @classmethod
    def from_environment(cls) -> Connections:
        """Both from their environment variables (for entry points only)."""
        return cls(KafkaSettings(), DatabaseSettings())

    @property
    def database_url(self) -> SecretStr:
        """The PostgreSQL URL (`GHL_SYNC_DATABASE_URL`); secret: it may hold a password."""
        return self.database.url

    def kafka_client_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """`KafkaSettings.client_kwargs()`, with a service's own options on top."""
        return {**self.kafka.client_kwargs(), **overrides}


def kafka_options(kafka: KafkaSettings | str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for an aiokafka client: `kafka.client_kwargs()`, or just the servers
    when `kafka` is a bootstrap string (PLAINTEXT), with a client's own options on top."""
    base = (
        kafka.client_kwargs() if isinstance(kafka, KafkaSettings) else {"bootstrap_servers": kafka}
    )
    return {**base, **overrides}


def _shared_kafka() -> KafkaSettings:
    # A bad GHL_SYNC_KAFKA_* value raises KafkaSettings' own ValidationError, which names
    # that variable.
    return KafkaSettings()


def _shared_database() -> DatabaseSettings:
    return DatabaseSettings()


SHARED_VARIABLE = "shared_variable"
"""Key, in a connection field's `json_schema_extra`, of the shared variable it defaults to."""


class ServiceSettings(BaseSettings):
    """The connection fields every service's settings class starts with (see the module's
    docstring); a subclass gives its own `env_prefix`."""

    kafka_bootstrap_servers: str = Field(
        default_factory=lambda: _shared_kafka().bootstrap_servers,
        description="This service's brokers, when not those of the shared variable (security "
        "and topic settings are always the shared `GHL_SYNC_KAFKA_*`).",
        json_schema_extra={SHARED_VARIABLE: "GHL_SYNC_KAFKA_BOOTSTRAP_SERVERS"},
    )
    database_url: SecretStr = Field(
        default_factory=lambda: _shared_database().url,
        description="This service's PostgreSQL, when not the shared one; secret: it may hold "
        "a password.",
        json_schema_extra={SHARED_VARIABLE: "GHL_SYNC_DATABASE_URL"},
    )
    database_schema: str = Field(
        default_factory=lambda: _shared_database().schema_name,
        description="This service's schema, when not the shared one.",
        json_schema_extra={SHARED_VARIABLE: "GHL_SYNC_DATABASE_SCHEMA"},
    )
    _kafka: KafkaSettings | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        """Keeps the shared Kafka security and topic settings beside this service's fields."""
        try:
            self._kafka = _shared_kafka()
        except ValidationError as exc:
            # Raised here, pydantic would file KafkaSettings' errors under this class's
            # prefix (GHL_SYNC_STREAMS_SECURITY_PROTOCOL); one line naming the real variable.
            from services.platform.diagnose import explain

            line = explain(exc) or str(exc).splitlines()[0]
            raise ValueError(line.removeprefix("bad setting ")) from None

    @classmethod
    def shared_variable(cls, field: str) -> str | None:
        """The shared variable `field` takes its value from when the service's own is unset."""
        info = cls.model_fields.get(field)
        extra = info.json_schema_extra if info is not None else None
        found = extra.get(SHARED_VARIABLE) if isinstance(extra, dict) else None
        return found if isinstance(found, str) else None

    def variable_of(self, field: str) -> str:
        """The variable `field`'s value came from: the service's own when it was given, else
        the shared one it defaults to."""
        shared = self.shared_variable(field)
        if shared is not None and field not in self.model_fields_set:
            return shared
        prefix = self.model_config.get("env_prefix", "")
        return f"{prefix}{field}".upper()

    @property
    def kafka(self) -> KafkaSettings:
        """The shared Kafka settings with this service's bootstrap servers."""
        shared = self._kafka if self._kafka is not None else KafkaSettings.model_construct()
        if shared.bootstrap_servers == self.kafka_bootstrap_servers:
            return shared
        return shared.model_copy(update={"bootstrap_servers": self.kafka_bootstrap_servers})

    def with_kafka(self, kafka: KafkaSettings) -> Self:
        """A copy that reaches Kafka as `kafka` says (its servers, security and topics)."""
        copy = self.model_copy(update={"kafka_bootstrap_servers": kafka.bootstrap_servers})
        copy._kafka = kafka
        return copy
