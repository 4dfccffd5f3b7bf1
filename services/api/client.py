"""A small helper for APPNAME: send commands over HTTP or straight to Kafka, read results.

    async with CommandClient("http://127.0.0.1:8720", api_key=key) as api:
        await api.submit(CreateTask(command_id=..., location_id=..., contact_id=..., payload=...))
        status = await api.wait(command_id)

    async with KafkaCommandProducer("127.0.0.1:9092", topic="appname.commands.v1") as kafka:
        await kafka.submit(command)   # returns once all in-sync replicas have it

Both send the command's `command_id` unchanged, so sending the same command again after an
error is safe: the writer applies it once.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self

import httpx
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from schemas import CommandBase, command_key, encode_command
from services.platform.connections import KafkaSettings, kafka_options

__all__ = ["CommandClient", "CommandRefused", "KafkaCommandProducer"]

_TERMINAL = frozenset({"succeeded", "failed", "rejected"})


class CommandRefused(Exception):
    """The API refused the command (4xx); `code` and `message` say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class CommandClient:
    """HTTP client of `ghl-sync api`; `transport=` replaces the network (tests)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: SecretStr | str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        retries: int = 5,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._http = httpx.AsyncClient(
            base_url=base_url, transport=transport, timeout=timeout, headers={"X-API-Key": key}
        )
        self._retries = retries

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def submit(self, command: CommandBase) -> str:
        """Send a command; returns its id once accepted. 503s and network errors are retried
        with the same id (harmless: one command id is applied once)."""
        body = encode_command(command)
        for attempt in range(self._retries + 1):
            try:
                response = await self._http.post(
                    "/v1/commands", content=body, headers={"Content-Type": "application/json"}
                )
            except httpx.TransportError:
                if attempt == self._retries:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            if response.status_code == 202:
                return str(response.json()["command_id"])
            if response.status_code >= 500 and attempt < self._retries:
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            problem = response.json() if response.content else {}
            raise CommandRefused(
                response.status_code, problem.get("code", "error"), problem.get("message", "")
            )
        raise AssertionError("unreachable")

    async def status(self, command_id: str) -> dict[str, Any]:
        """`GET /v1/commands/{id}`."""
        response = await self._http.get(f"/v1/commands/{command_id}")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def wait(self, command_id: str, *, within: float = 60.0) -> dict[str, Any]:
        """Poll the status until the command is terminal."""
        async with asyncio.timeout(within):
            while True:
                found = await self.status(command_id)
                if found["state"] in _TERMINAL:
                    return found
                await asyncio.sleep(0.1)

    async def contact(self, contact_id: str) -> dict[str, Any]:
        """`GET /v1/contacts/{id}`: the contact with its tasks, notes, tags, appointments."""
        response = await self._http.get(f"/v1/contacts/{contact_id}")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


class KafkaCommandProducer:
    """Produces commands straight to the commands topic, keyed by contact, acks from all."""

    def __init__(self, bootstrap_servers: KafkaSettings | str, *, topic: str) -> None:
        """`bootstrap_servers`: a `host:port` list (PLAINTEXT), or `KafkaSettings` for a
        cluster that wants TLS or SASL."""
        self._topic = topic
        self._producer = AIOKafkaProducer(
            **kafka_options(bootstrap_servers), acks="all", enable_idempotence=True, linger_ms=2
        )

    async def __aenter__(self) -> Self:
        await self._producer.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._producer.stop()

    async def submit(self, command: CommandBase) -> str:
        """Send one command and wait for the broker's ack; returns its id."""
        await self._producer.send_and_wait(
            self._topic, encode_command(command), key=command_key(command).encode()
        )
        return command.command_id
