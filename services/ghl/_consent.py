"""The local end of the OAuth redirect: waits for one `GET /path?code=...&state=...`."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, urlsplit

from schemas.ghl_errors import AuthError

__all__ = ["receive_code"]

_DONE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n\r\n"
    b"<!doctype html><title>ghl-sync</title><p>ghl-sync is authorised. You can close this tab."
)
_NOT_IT = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


async def receive_code(
    redirect_uri: str, *, state: str, wait_seconds: float, ready: asyncio.Event | None = None
) -> str:
    """Listen on the redirect URI's host and port until GHL's redirect brings the code.

    Requests for other paths (a browser's favicon) get 404 and are ignored; a redirect with a
    wrong `state` or with `error=` ends in `AuthError`.
    """
    target = urlsplit(redirect_uri)
    host = target.hostname or "127.0.0.1"
    port = target.port or 80
    path = target.path or "/"
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split(" ")
            url = urlsplit(parts[1]) if len(parts) >= 2 else urlsplit("/")
            if parts[0] != "GET" or url.path != path:
                writer.write(_NOT_IT)
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            writer.write(_DONE)
            if outcome.done():
                return
            if query.get("state") != state:
                outcome.set_exception(AuthError("OAuth redirect carried the wrong state"))
            elif "code" not in query:
                outcome.set_exception(
                    AuthError(f"authorisation refused: {query.get('error', 'no code')}")
                )
            else:
                outcome.set_result(query["code"])
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    try:
        if ready is not None:
            ready.set()
        return await asyncio.wait_for(outcome, timeout=wait_seconds)
    except TimeoutError as exc:
        raise AuthError(
            f"no OAuth redirect reached {redirect_uri} within {wait_seconds:.0f}s"
        ) from exc
    finally:
        server.close()
        await server.wait_closed()
