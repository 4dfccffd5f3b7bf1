"""A minimal HTTP/1.1 keep-alive client for load generators: a Python HTTP client costs
more CPU per request than the servers under test, and would measure itself instead."""

from __future__ import annotations

import asyncio

__all__ = ["exchange", "post", "read_message"]


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes of a POST request to 127.0.0.1:`port` with a keep-alive connection."""
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_message(reader: asyncio.StreamReader) -> bytes:
    """Read one HTTP/1.1 message, its head and the `Content-Length` bytes of its body; the
    head."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return head


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request on a kept-alive connection and read its answer; the status code."""
    writer.write(request)
    head = await read_message(reader)
    return int(head[9:12])
