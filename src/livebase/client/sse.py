"""A minimal Server-Sent Events reader over HTTP/1.1 on asyncio streams.

The client depends on ``websockets`` only, so this speaks just enough HTTP for one streaming
``GET``: it sends the request, reads the status and headers, decodes a chunked, sized or
read-until-close body, and parses ``text/event-stream`` into events. ``https://`` URLs use TLS
with the system's certificate store. Every read has a timeout, so a silent server is noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass

MAX_HEAD = 64 << 10
MAX_LINE = 16 << 20  # one event's data line (a change carries a document of up to 1 MiB)


@dataclass(frozen=True)
class Event:
    """One dispatched event. ``event`` is "message" when the server named none, and "" for an
    event without data, which only moves ``id`` (the last event id)."""

    event: str
    data: str
    id: str | None


class MalformedResponseError(Exception):
    """The server's answer is not HTTP/1.1 or not an event stream."""


class SseResponse:
    """One open ``GET``: ``status`` and ``headers`` are read; the body is not."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        status: int,
        headers: dict[str, str],
        timeout: float,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.status = status
        self.headers = headers
        self._timeout = timeout

    async def _timed(self, read: Awaitable[bytes]) -> bytes:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the read completes, and a closed stream must stop reading.
        async with asyncio.timeout(self._timeout):
            return await read

    async def body_chunks(self) -> AsyncIterator[bytes]:
        """The body, decoded from its transfer encoding, as it arrives; ends with the body."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            while True:
                size_line = await self._timed(self._reader.readuntil(b"\n"))
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise MalformedResponseError(f"bad chunk size {size_line[:40]!r}") from None
                if size == 0:
                    return
                chunk = await self._timed(self._reader.readexactly(size + 2))
                yield chunk[:-2]
        elif "content-length" in self.headers:
            remaining = int(self.headers["content-length"])
            while remaining > 0:
                chunk = await self._timed(self._reader.read(min(remaining, 1 << 16)))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", remaining)
                remaining -= len(chunk)
                yield chunk
        else:
            while chunk := await self._timed(self._reader.read(1 << 16)):
                yield chunk

    async def read_body(self, limit: int = 1 << 20) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in self.body_chunks():
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                break
        return b"".join(parts)

    async def events(self) -> AsyncIterator[Event]:
        """The events of a ``text/event-stream`` body, in order, until the body ends."""
        parser = EventParser()
        async for chunk in self.body_chunks():
            for event in parser.feed(chunk):
                yield event

    def close(self) -> None:
        self._writer.close()

    async def aclose(self) -> None:
        """Close and wait until the transport is gone, so a loop stopped right after leaves no
        unclosed socket behind."""
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


class EventParser:
    """Incremental ``text/event-stream`` parsing (the WHATWG rules this server needs: ``id``,
    ``event``, ``data``, comments, LF or CRLF line ends)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, data: bytes) -> list[Event]:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        if len(self._buffer) > MAX_LINE:
            raise MalformedResponseError("an event-stream line is longer than 16 MiB")
        events = []
        for raw in lines:
            line = raw.removesuffix(b"\r").decode("utf-8", errors="replace")
            if not line:
                if self._data or self._id is not None:
                    name = (self._event or "message") if self._data else ""
                    events.append(Event(name, "\n".join(self._data), self._id))
                self._event, self._data, self._id = "", [], None
                continue
            if line.startswith(":"):
                continue  # a comment (keepalive)
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                self._data.append(value)
            elif field == "event":
                self._event = value
            elif field == "id":
                self._id = value
        return events


async def open_event_stream(url: str, headers: Mapping[str, str], *, timeout: float) -> SseResponse:
    """Connect and send ``GET url``; returns once the response head has arrived."""
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    context = ssl.create_default_context() if secure else None
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, ssl=context, limit=MAX_LINE)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        async with asyncio.timeout(timeout):
            head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEAD:
            raise MalformedResponseError("the response head is too large")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise MalformedResponseError(f"not an HTTP/1.1 response: {status_line[:80]!r}")
        response_headers: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                response_headers[name.strip().lower()] = value.strip()
        return SseResponse(reader, writer, int(rest[:3]), response_headers, timeout)
    except BaseException:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        raise


__all__ = ["Event", "EventParser", "MalformedResponseError", "SseResponse", "open_event_stream"]
