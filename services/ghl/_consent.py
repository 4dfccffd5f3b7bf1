"""The end of the OAuth redirect: `receive_code` waits on the redirect's local port for one
`GET /path?code=...&state=...`; `pasted_code` reads the same from what a user pastes on a
headless server (`ghl-sync auth --paste`): the address the browser was sent to, or the code."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, urlsplit

from schemas.ghl_errors import AuthError

__all__ = ["pasted_code", "receive_code"]

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


def pasted_code(text: str, *, state: str) -> str:
    """The code in what the user pasted: the redirected address (or its query), whose `state`
    must be the one this consent was opened with, or the bare code (no state to check).

    A redirect with `error=`, an address without a code or with another consent's `state`, or
    nothing at all ends in `AuthError`; the messages never repeat what was pasted.
    """
    text = text.strip()
    if not text:
        raise AuthError(
            "nothing was pasted: paste the address the browser was sent to, or its code"
        )
    if "=" not in text:
        if any(c.isspace() for c in text) or "/" in text:
            raise AuthError("the pasted text is neither the redirected address nor a code")
        return text
    query_text = urlsplit(text).query if "?" in text else text
    query = {k: v[0] for k, v in parse_qs(query_text).items()}
    if "code" not in query:
        refused = query.get("error")
        if refused:
            raise AuthError(f"authorisation refused: {refused}")
        raise AuthError("the pasted address carries no code (`?code=...`)")
    if "state" not in query:
        raise AuthError(
            "the pasted address carries no state to check; paste the whole address, or only "
            "the code"
        )
    if query["state"] != state:
        raise AuthError(
            "the pasted address carries another consent's state: open the URL this command "
            "printed, approve, and paste where it sends the browser"
        )
    return query["code"]
