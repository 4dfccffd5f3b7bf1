"""Webhook deliveries to a real local socket (the simulator's own HTTP/1.1 client): keep-alive,
servers that close, chunked answers, idle connections dropped by the server, errors retried."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.simulator import SimulatorSettings, create_app, seed_state
from services.simulator._http1 import Http1Connections, HttpFailure


class _Server:
    """A local HTTP/1.1 receiver; `mode` picks how it answers."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.connections = 0
        self.mode = "keep-alive"
        self.fail_first = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                if self.fail_first:
                    self.fail_first -= 1
                    writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\noops")
                    continue
                self.bodies.append(json.loads(body))
                if self.mode == "close":
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
                    )
                    await writer.drain()
                    break
                if self.mode == "chunked":
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
                    )
                elif self.mode == "drop-idle":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    break  # closes without saying so: the client's kept connection goes stale
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port


@pytest.fixture
async def server() -> AsyncIterator[_Server]:
    srv = _Server()
    srv.server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    yield srv
    srv.server.close()


async def _bulk(srv: _Server, count: int, **settings: Any) -> Any:
    state = seed_state(seed=2, locations=1, contacts_per_location=count)
    app = create_app(
        SimulatorSettings(
            webhook_urls=(f"http://127.0.0.1:{srv.port}/hooks?from=sim",),
            webhook_retry_base_seconds=0.001,
            webhook_retry_max_seconds=0.002,
            **settings,
        ),
        state=state,
    )
    rt = app.state.simulator
    loc = next(iter(state.locations))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        answer = await c.post(
            f"/_admin/locations/{loc}/bulk",
            json={"action": "addTags", "count": count, "tags": ["t"]},
        )
        assert answer.status_code == 200
        await rt.webhooks.drain()
    await rt.webhooks.aclose()
    return rt


@pytest.mark.parametrize("mode", ["keep-alive", "close", "chunked", "drop-idle"])
async def test_every_webhook_arrives_whatever_the_server_does_with_connections(
    server: _Server, mode: str
) -> None:
    server.mode = mode
    rt = await _bulk(server, 300, webhook_senders=4)
    assert rt.webhooks.stats()["delivered"] == 300
    assert sorted(b["id"] for b in server.bodies) == sorted(
        rt.state.locations[next(iter(rt.state.locations))].contacts
    )
    if mode in ("keep-alive", "chunked"):
        assert server.connections <= 4  # one kept-alive connection per sender
    else:
        assert server.connections >= 300


async def test_error_answers_are_retried_on_the_same_connection(server: _Server) -> None:
    server.fail_first = 3
    rt = await _bulk(server, 1, webhook_senders=1)
    [record] = rt.webhooks.log
    assert (record.status, record.attempts, record.last_status_code) == ("delivered", 4, 200)
    assert server.connections == 1


async def test_a_refused_connection_is_a_failed_attempt_with_its_reason(server: _Server) -> None:
    port = server.port
    assert server.server is not None
    server.server.close()
    await server.server.wait_closed()
    connections = Http1Connections(timeout=2.0)
    with pytest.raises(HttpFailure) as caught:
        await connections.post(f"http://127.0.0.1:{port}/x", b"{}", {})
    assert caught.value.reason in ("ConnectionRefusedError", "OSError")
