"""A small HTTP/1.1 server on asyncio and httptools, built for short JSON round trips.

A general ASGI server spends tens of microseconds per request on scopes, events and header
validation; for a function API whose whole budget is a few hundred microseconds that is the
largest single cost. This server parses with httptools, hands each complete request to one async
handler, and writes each response with a single ``write``. It supports keep-alive, pipelining
(responses in request order), ``Expect: 100-continue``, chunked request bodies (decoded by
httptools), a body size limit, write backpressure, idle timeouts and a graceful shutdown.
Upgrade requests (WebSocket) go to an optional upgrade handler. A response with a ``stream`` is
sent with chunked transfer encoding as the iterator produces it (Server-Sent Events); it ends
when the iterator does, when the client goes away, or at once when the server stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import cast

import httptools

log = logging.getLogger("livebase.httpserver")

IDLE_TIMEOUT = 75.0
MAX_PIPELINED = 16


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None
    """If set, the body: sent chunk by chunk as it comes (``body`` is ignored)."""


Handler = Callable[[Request], Awaitable[Response]]
UpgradeHandler = Callable[[Request, asyncio.Transport, bytes], asyncio.Protocol | None]

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


_LAST_CHUNK = b"0\r\n\r\n"


def encode_response(response: Response, keep_alive: bool) -> bytes:
    """The whole response; for a streamed one, only its head (the chunks follow)."""
    length = (
        b"transfer-encoding: chunked\r\n"
        if response.stream is not None
        else b"content-length: %d\r\n" % len(response.body)
    )
    head = [
        b"HTTP/1.1 %d %s\r\n" % (response.status, _REASONS.get(response.status, b"Unknown")),
        b"content-type: %s\r\n%s" % (response.content_type.encode("latin-1"), length),
    ]
    for name, value in response.headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"invalid header {name!r}")
        head.append(f"{name}: {value}\r\n".encode("latin-1"))
    if not keep_alive:
        head.append(b"connection: close\r\n")
    head.append(b"\r\n")
    if response.stream is not None:
        return b"".join(head)
    return b"".join(head) + response.body


class _Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._loop = server.loop
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._too_large = False
        self._queue: deque[tuple[Request, bool]] = deque()
        self._busy = False
        self._closing = False
        self._write_paused = False
        self._read_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._pump: asyncio.Task[None] | None = None  # sends a streamed body
        self.last_active = self._loop.time()

    # -- transport events ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._closing = True
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if self._pump is not None:
            self._pump.cancel()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.last_active = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = upgrade.args[0] if upgrade.args else len(data)
            self._upgrade(data[offset:])
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed HTTP request: {exc}")

    # -- parser callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        if self._headers.get("expect", "").lower() == "100-continue" and self._transport:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._server.max_body:
            self._too_large = True
            self._body = []
        elif not self._too_large:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._parser.should_upgrade():
            return  # handled by the HttpParserUpgrade branch in data_received
        request = self._request()
        if self._too_large:
            self._fail(413, f"request body is larger than {self._server.max_body} bytes")
            return
        self._queue.append((request, self._parser.should_keep_alive()))
        if len(self._queue) > MAX_PIPELINED and self._transport and not self._read_paused:
            self._read_paused = True
            self._transport.pause_reading()
        if not self._busy:
            self._busy = True
            self._loop.create_task(self._serve_queue())

    def _request(self) -> Request:
        parsed = httptools.parse_url(self._url)
        method = self._parser.get_method().decode("ascii")
        path = parsed.path.decode("latin-1")
        query = (parsed.query or b"").decode("latin-1")
        return Request(method, path, query, self._headers, b"".join(self._body))

    # -- responses -------------------------------------------------------------------------------

    async def _serve_queue(self) -> None:
        try:
            while self._queue and not self._closing:
                request, keep_alive = self._queue.popleft()
                self._server.in_flight += 1
                try:
                    response = await self._server.handle(request)
                except Exception:
                    log.exception("unhandled error serving %s %s", request.method, request.path)
                    response = Response(
                        500, b'{"code":"InternalError","message":"internal server error"}'
                    )
                finally:
                    self._server.in_flight -= 1
                keep_alive = keep_alive and not self._server.stopping
                if self._closing or self._transport is None:
                    if response.stream is not None:
                        await _aclose(response.stream)
                    return  # the client went away; the work is done, the answer is dropped
                self._transport.write(encode_response(response, keep_alive))
                self.last_active = self._loop.time()
                if response.stream is not None and not await self._send_stream(response.stream):
                    return
                if self._write_paused:
                    self._drained = self._loop.create_future()
                    await self._drained
                if not keep_alive:
                    self._close()
                    return
                if self._read_paused and self._transport and len(self._queue) <= MAX_PIPELINED:
                    self._read_paused = False
                    self._transport.resume_reading()
        finally:
            self._busy = False

    async def _send_stream(self, stream: AsyncIterator[bytes]) -> bool:
        """Send ``stream`` as chunks after its head; False if the connection cannot go on."""
        pump = self._pump = self._loop.create_task(self._pump_chunks(stream))
        if self._server.stopping:
            self.end_stream()
        try:
            await asyncio.wait({pump})
        finally:
            self._pump = None
            await _aclose(stream)
        if pump.cancelled() or self._closing or self._transport is None:
            return False  # the client went away or the server ended the stream
        error = pump.exception()
        if error is not None:
            log.error("streamed response failed", exc_info=error)
            self._close()  # no last chunk: the client sees a truncated body, not a clean end
            return False
        self._transport.write(_LAST_CHUNK)
        return True

    async def _pump_chunks(self, stream: AsyncIterator[bytes]) -> None:
        async for chunk in stream:
            if self._closing or self._transport is None:
                return
            if not chunk:
                continue  # an empty chunk would end the body
            self._transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            self.last_active = self._loop.time()
            if self._write_paused:
                self._drained = self._loop.create_future()
                await self._drained

    def end_stream(self) -> None:
        """End a streamed response now, cleanly (last chunk), and close the connection."""
        if self._pump is None or self._pump.done():
            return
        self._pump.cancel()
        if self._transport is not None and not self._closing:
            # The pump writes whole chunks between awaits, so this lands on a chunk boundary.
            self._transport.write(_LAST_CHUNK)
        self._close()

    def _fail(self, status: int, message: str) -> None:
        if self._transport is not None and not self._closing:
            body = b'{"code":"%s","message":"%s"}' % (
                b"RequestTooLarge" if status == 413 else b"BadRequest",
                message.replace('"', "'").encode(),
            )
            self._transport.write(encode_response(Response(status, body), keep_alive=False))
        self._close()

    def _upgrade(self, rest: bytes) -> None:
        upgrade = self._server.upgrade
        request = self._request()
        protocol = None
        if upgrade is not None and self._transport is not None:
            protocol = upgrade(request, self._transport, rest)
        if protocol is None:
            self._fail(404, "no upgrade is available at this path")
            return
        self._server.connections.discard(self)
        assert self._transport is not None
        self._transport.set_protocol(protocol)

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def close_if_idle(self, now: float, timeout: float) -> None:
        if not self._busy and not self._queue and now - self.last_active > timeout:
            self._close()


class HttpServer:
    def __init__(
        self,
        handle: Handler,
        *,
        max_body: int,
        upgrade: UpgradeHandler | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.handle = handle
        self.max_body = max_body
        self.upgrade = upgrade
        self.idle_timeout = idle_timeout
        self.connections: set[_Connection] = set()
        self.in_flight = 0
        self.stopping = False
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=True, backlog=1024
        )
        self._sweeper = loop.create_task(self._sweep())

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(10.0, self.idle_timeout))
            now = loop.time()
            for conn in list(self.connections):
                conn.close_if_idle(now, self.idle_timeout)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (up to ``grace`` s), close the rest."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self.connections):
            conn.end_stream()  # streams never finish on their own; end them now
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for conn in list(self.connections):
            conn._close()


async def _aclose(stream: AsyncIterator[bytes]) -> None:
    """Finish an async generator (its ``finally`` blocks run now, not at garbage collection)."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
