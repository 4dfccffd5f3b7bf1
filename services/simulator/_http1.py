"""A small HTTP/1.1 client for webhook deliveries to plain `http://` URLs.

Each webhook sender owns one `Http1Connections`: at most one kept-alive connection per
(host, port), used by that sender alone, so there is no shared pool to keep books on (httpx's
pool spent most of the simulator's time at thousands of deliveries). `https://` URLs and tests
with their own transport go through httpx instead.

A POST whose kept-alive connection turns out closed before any answer byte arrived is sent
once more on a new connection (the server dropped an idle connection); webhooks are at least
once anyway. Answers may carry `Content-Length`, `Transfer-Encoding: chunked`, or neither
(then the body runs until the server closes).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

__all__ = ["Http1Connections", "HttpFailure"]

_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HttpFailure(Exception):
    """No answer: the name of what went wrong is the delivery's `lastError`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Stale(Exception):
    pass


class Http1Connections:
    """One sender's connections, one per (host, port)."""

    def __init__(self, timeout: float, user_agent: str = "ghl-sync-simulator") -> None:
        self._timeout = timeout
        self._agent = user_agent
        self._open: dict[tuple[str, int], _Connection] = {}

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST `body`; the answer's status code (raises `HttpFailure` when there is none)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        authority = host if parts.port is None else f"{host}:{port}"
        lines = [f"POST {target} HTTP/1.1", f"Host: {authority}", f"User-Agent: {self._agent}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        key = (host, port)
        for _ in range(2):
            connection = self._open.pop(key, None)
            reused = connection is not None
            try:
                async with asyncio.timeout(self._timeout):
                    if connection is None:
                        connection = await asyncio.open_connection(host, port)
                    status, keep = await self._exchange(connection, request, reused)
            except _Stale:
                continue
            except TimeoutError:
                _close(connection)
                raise HttpFailure("TimeoutError") from None
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                _close(connection)
                raise HttpFailure(type(exc).__name__) from None
            if keep:
                self._open[key] = connection
            else:
                _close(connection)
            return status
        raise HttpFailure("ConnectionResetError")

    async def _exchange(
        self, connection: _Connection, request: bytes, reused: bool
    ) -> tuple[int, bool]:
        reader, writer = connection
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            partial = getattr(exc, "partial", b"")
            if reused and not partial:
                _close(connection)
                raise _Stale from exc
            raise
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        status = int(rest[:3])
        fields: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        keep = version == "HTTP/1.1" and fields.get("connection", "").lower() != "close"
        if "chunked" in fields.get("transfer-encoding", "").lower():
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        elif "content-length" in fields:
            await reader.readexactly(int(fields["content-length"]))
        elif status >= 200 and status not in (204, 304):
            await reader.read()  # the body runs to the end of the connection
            keep = False
        return status, keep

    async def aclose(self) -> None:
        """Close every kept-alive connection."""
        for connection in self._open.values():
            _close(connection)
        self._open.clear()


def _close(connection: _Connection | None) -> None:
    if connection is not None:
        connection[1].close()
