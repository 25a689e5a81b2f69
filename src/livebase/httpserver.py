"""A small HTTP/1.1 server on asyncio and httptools, built for short JSON round trips.

A general ASGI server spends tens of microseconds per request on scopes, events and header
validation; for a function API whose whole budget is a few hundred microseconds that is the
largest single cost. This server parses with httptools, hands each complete request to one async
handler, and writes each response with a single ``write``. It supports keep-alive, pipelining
(responses in request order), ``Expect: 100-continue``, chunked request bodies (decoded by
httptools), a body size limit, write backpressure, idle timeouts and a graceful shutdown.

Hostile clients are bounded (``HttpLimits``): a request target longer than ``max_target`` bytes
gets 414, a head (request line plus headers) over ``max_head`` bytes or with more than
``max_headers`` headers gets 431, a body over ``max_body`` gets 413 as soon as that is known,
a head not complete ``head_timeout`` s after its first byte, or a body that stops arriving
(``body_timeout`` s without a byte, or slower than ``body_min_rate`` bytes/s after the first
``body_timeout`` s), gets 408. Such an answer ends the connection: later input is dropped
unread (never buffered) and the socket is half-closed, then closed ``LINGER`` s later, so the
client can still read the answer while it is sending. Nothing is read into memory past a limit
but the one network read in hand.
Upgrade requests (WebSocket) go to an optional upgrade handler. A response with a ``stream`` is
sent with chunked transfer encoding as the iterator produces it (Server-Sent Events); it ends
when the iterator does, when the client goes away, or at once when the server stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Protocol, cast

import httptools

log = logging.getLogger("livebase.httpserver")

IDLE_TIMEOUT = 75.0
MAX_PIPELINED = 16
LINGER = 2.0
"""Seconds a refused connection keeps draining (and dropping) input before it is closed."""

_NEVER = float("inf")
_IDLE, _HEAD, _BODY = 0, 1, 2
"""What a connection is receiving: nothing, a request head, a request body."""


@dataclass(frozen=True)
class HttpLimits:
    """Bounds on what one client may send (see the module docstring); ``livebase serve`` takes
    them from ``Settings`` (``LIVEBASE_HTTP_*``)."""

    max_target: int = 8 << 10
    max_head: int = 64 << 10
    max_headers: int = 100
    head_timeout: float = 20.0
    body_timeout: float = 30.0
    body_min_rate: float = 1024.0
    idle_timeout: float = IDLE_TIMEOUT


class _Refusal(Exception):
    """Raised from a parser callback to stop parsing and answer ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes = b""
    client: str | None = None
    """The peer's address (no port), for per-address limits; None when unknown."""
    sink: BodySink | None = None
    """Where the body went instead of ``body``, when the server's ``body_sink`` took it."""

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
    length: int | None = None
    """For a ``stream`` of known size: sent as ``content-length`` (not chunked)."""


class BodySink(Protocol):
    """Takes a request body as it arrives (a file upload), so it never sits in memory."""

    limit: int
    """The most bytes it takes: more is answered 413."""

    def write(self, data: bytes) -> None: ...

    def abort(self) -> None:
        """The body will not be complete (the client left, or it was refused)."""


BodySinks = Callable[[str, str, dict[str, str]], BodySink | None]
"""(method, request target, headers) -> a sink for this request's body, or None to buffer it."""


Handler = Callable[[Request], Awaitable[Response]]
UpgradeHandler = Callable[[Request, asyncio.Transport, bytes], asyncio.Protocol | None]

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


_LAST_CHUNK = b"0\r\n\r\n"
_INTERNAL_ERROR = b'{"code":"InternalError","message":"internal server error"}'


def dumps_error(code: str, message: str) -> bytes:
    """``{"code", "message"}`` as JSON (what every ``/api`` error looks like)."""
    return json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()


def _describe(item: Request | Response) -> str:
    return f"{item.method} {item.path[:200]}" if isinstance(item, Request) else "a refusal"


def encode_response(response: Response, keep_alive: bool) -> bytes:
    """The whole response; for a streamed one, only its head (the chunks follow)."""
    if response.stream is None:
        length = b"content-length: %d\r\n" % len(response.body)
    elif response.length is not None:
        length = b"content-length: %d\r\n" % response.length
    else:
        length = b"transfer-encoding: chunked\r\n"
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
        self._client: str | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._sink: BodySink | None = None
        self._limits = server.limits
        self._phase = _IDLE
        self._phase_start = 0.0  # when the head began / the body was due
        self._last_progress = 0.0  # when body bytes last arrived
        self._messages = 0  # requests begun on this connection
        self._head_size = 0  # bytes of the request target and the headers parsed so far
        self._head_raw = 0  # bytes of network reads that fell wholly inside this head
        self._header_count = 0
        self._timer: asyncio.TimerHandle | None = None
        self._refusal: _Refusal | None = None
        self._discard = False  # refused: input is dropped unread
        self._queue: deque[tuple[Request | Response, bool]] = deque()
        self._busy = False
        self._closing = False
        self._write_paused = False
        self._read_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._pump: asyncio.Task[None] | None = None  # sends a streamed body
        self._pump_raw = False  # ... of a known length (no chunked framing)
        self.last_active = self._loop.time()

    # -- transport events ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)
        self._server.connections.add(self)
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if isinstance(peer, tuple) and peer else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._closing = True
        self._cancel_timer()
        self._drop_sink()
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
        if self._discard:
            return
        now = self.last_active = self._loop.time()
        began = self._messages if self._phase == _HEAD else -1
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = upgrade.args[0] if upgrade.args else len(data)
            self._upgrade(data[offset:])
            return
        except httptools.HttpParserError as exc:
            refusal, self._refusal = self._refusal, None
            if refusal is None:
                refusal = _Refusal(400, "BadRequest", f"malformed HTTP request: {exc}")
            self._refuse(refusal)
            return
        if self._phase == _IDLE:
            return  # the usual case: this read held whole requests
        if began == self._messages and self._phase == _HEAD:
            # The head was incomplete before and after this read: it was all head. httptools
            # holds a header being read in its own buffer, so count it before it grows further.
            self._head_raw += len(data)
            if self._head_raw > self._limits.max_head:
                self._refuse(self._head_too_large())
                return
        deadline = self._deadline()
        if deadline != _NEVER and (self._timer is None or self._timer.when() > deadline):
            self._cancel_timer()
            self._timer = self._loop.call_at(max(deadline, now), self._on_deadline)

    # -- parser callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0
        self._sink = None
        self._messages += 1
        self._phase = _HEAD
        self._phase_start = self.last_active
        self._head_size = self._head_raw = self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if len(self._url) > self._limits.max_target:
            raise self._refused(
                414,
                "RequestTargetTooLong",
                f"the request target (path and query) is longer than "
                f"{self._limits.max_target} bytes",
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._head_size += len(name) + len(value) + 4
        if self._header_count > self._limits.max_headers:
            raise self._refused(
                431,
                "RequestHeaderFieldsTooLarge",
                f"the request has more than {self._limits.max_headers} headers",
            )
        if self._head_size > self._limits.max_head:
            raise self._refused_head()
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        self._phase_start = self._last_progress = self.last_active
        sinks = self._server.body_sink
        if sinks is not None and not self._parser.should_upgrade():
            method = self._parser.get_method().decode("ascii")
            self._sink = sinks(method, self._url.decode("latin-1"), self._headers)
        length = self._headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._max_body():
            raise self._refused_body()
        if self._headers.get("expect", "").lower() == "100-continue" and self._transport:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        self._last_progress = self.last_active
        if self._body_size > self._max_body():
            raise self._refused_body()
        if self._sink is not None:
            self._sink.write(body)
        else:
            self._body.append(body)

    def _max_body(self) -> int:
        return self._sink.limit if self._sink is not None else self._server.max_body

    def _drop_sink(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.abort()

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        if self._timer is not None:
            self._cancel_timer()  # it holds this connection (and so the body) until it fires
        if self._parser.should_upgrade():
            return  # handled by the HttpParserUpgrade branch in data_received
        request = self._request()
        self._enqueue(request, self._parser.should_keep_alive())
        if len(self._queue) > MAX_PIPELINED and self._transport and not self._read_paused:
            self._read_paused = True
            self._transport.pause_reading()

    def _enqueue(self, item: Request | Response, keep_alive: bool) -> None:
        self._queue.append((item, keep_alive))
        if not self._busy:
            self._busy = True
            self._loop.create_task(self._serve_queue())

    # -- limits ----------------------------------------------------------------------------------

    def _refused(self, status: int, code: str, message: str) -> _Refusal:
        """Remember why parsing stops (httptools wraps what a callback raises)."""
        self._refusal = _Refusal(status, code, message)
        return self._refusal

    def _head_too_large(self) -> _Refusal:
        return _Refusal(
            431,
            "RequestHeaderFieldsTooLarge",
            f"the request head is larger than {self._limits.max_head} bytes",
        )

    def _refused_head(self) -> _Refusal:
        self._refusal = self._head_too_large()
        return self._refusal

    def _refused_body(self) -> _Refusal:
        what = "the upload" if self._sink is not None else "request body"
        return self._refused(
            413, "RequestTooLarge", f"{what} is larger than {self._max_body()} bytes"
        )

    def _deadline(self) -> float:
        """When what is being received is overdue (``inf``: never; a timeout of 0 is off)."""
        limits = self._limits
        if self._phase == _HEAD:
            return self._phase_start + limits.head_timeout if limits.head_timeout > 0 else _NEVER
        if limits.body_timeout <= 0:
            return _NEVER
        stalled = self._last_progress + limits.body_timeout
        if limits.body_min_rate <= 0:
            return stalled
        steady = self._phase_start + limits.body_timeout + self._body_size / limits.body_min_rate
        return min(steady, stalled)

    def _on_deadline(self) -> None:
        self._timer = None
        if self._phase == _IDLE or self._discard or self._closing:
            return
        now = self._loop.time()
        if self._read_paused:
            # This server stopped reading (too many pipelined requests waiting), not the client:
            # it gets a fresh allowance once reading resumes.
            self._phase_start = self._last_progress = now
        deadline = self._deadline()
        if deadline == _NEVER:
            return
        if now < deadline or self._read_paused:
            self._timer = self._loop.call_at(deadline, self._on_deadline)
            return
        if self._phase == _HEAD:
            message = f"the request head did not arrive within {self._limits.head_timeout:g} s"
        else:
            message = (
                f"the request body stalled: {self._body_size} bytes arrived, none for "
                f"{now - self._last_progress:.0f} s, or slower than "
                f"{self._limits.body_min_rate:g} bytes/s"
            )
        self._refuse(_Refusal(408, "RequestTimeout", message))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, refusal: _Refusal) -> None:
        """Answer ``refusal`` after the responses already due, then end the connection; input
        from now on is dropped, and what the parser held is released."""
        if self._discard or self._closing:
            return
        self._discard = True
        self._phase = _IDLE
        self._cancel_timer()
        self._drop_sink()
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers = {}
        self._body = []
        body = dumps_error(refusal.code, refusal.message)
        self._enqueue(Response(refusal.status, body), False)

    def _request(self) -> Request:
        try:
            parsed = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            raise self._refused(
                400, "BadRequest", f"malformed request target {self._url[:100]!r}"
            ) from None
        method = self._parser.get_method().decode("ascii")
        path = (parsed.path or b"/").decode("latin-1")
        query = (parsed.query or b"").decode("latin-1")
        body, self._body = b"".join(self._body), []
        sink, self._sink = self._sink, None
        return Request(method, path, query, self._headers, body, self._client, sink)

    # -- responses -------------------------------------------------------------------------------

    async def _serve_queue(self) -> None:
        try:
            while self._queue and not self._closing:
                item, keep_alive = self._queue.popleft()
                if isinstance(item, Response):
                    response = item
                else:
                    response = await self._respond(item)
                keep_alive = keep_alive and not self._server.stopping
                if self._closing or self._transport is None:
                    if response.stream is not None:
                        await _aclose(response.stream)
                    return  # the client went away; the work is done, the answer is dropped
                try:
                    data = encode_response(response, keep_alive)
                except (ValueError, UnicodeError) as exc:  # a header that cannot be sent
                    log.error("cannot send the response to %s: %s", _describe(item), exc)
                    if response.stream is not None:
                        await _aclose(response.stream)
                    response = Response(500, _INTERNAL_ERROR)
                    data = encode_response(response, keep_alive)
                self._transport.write(data)
                self.last_active = self._loop.time()
                if response.stream is not None and not await self._send_stream(
                    response.stream, response.length is not None
                ):
                    return
                if self._write_paused:
                    self._drained = self._loop.create_future()
                    await self._drained
                if not keep_alive:
                    self._end()
                    return
                if self._read_paused and self._transport and len(self._queue) <= MAX_PIPELINED:
                    self._read_paused = False
                    self._transport.resume_reading()
        finally:
            self._busy = False

    async def _respond(self, request: Request) -> Response:
        self._server.in_flight += 1
        try:
            return await self._server.handle(request)
        except Exception:
            log.exception("unhandled error serving %s %s", request.method, request.path[:200])
            return Response(500, _INTERNAL_ERROR)
        finally:
            self._server.in_flight -= 1

    async def _send_stream(self, stream: AsyncIterator[bytes], raw: bool = False) -> bool:
        """Send ``stream`` as chunks after its head (``raw``: as they are, the head having
        said the length); False if the connection cannot go on."""
        self._pump_raw = raw
        pump = self._pump = self._loop.create_task(self._pump_chunks(stream, raw))
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
        if not raw:
            self._transport.write(_LAST_CHUNK)
        return True

    async def _pump_chunks(self, stream: AsyncIterator[bytes], raw: bool) -> None:
        async for chunk in stream:
            if self._closing or self._transport is None:
                return
            if not chunk:
                continue  # an empty chunk would end the body
            if raw:
                self._transport.write(chunk)
            else:
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
        if self._transport is not None and not self._closing and not self._pump_raw:
            # The pump writes whole chunks between awaits, so this lands on a chunk boundary.
            self._transport.write(_LAST_CHUNK)
        self._close()

    def _upgrade(self, rest: bytes) -> None:
        self._phase = _IDLE
        self._cancel_timer()
        upgrade = self._server.upgrade
        try:
            request = self._request()
        except _Refusal as refusal:
            self._refusal = None
            self._refuse(refusal)
            return
        protocol = None
        if upgrade is not None and self._transport is not None:
            protocol = upgrade(request, self._transport, rest)
        if protocol is None:
            self._refuse(_Refusal(404, "NotFound", "no upgrade is available at this path"))
            return
        self._server.connections.discard(self)
        assert self._transport is not None
        self._transport.set_protocol(protocol)

    def _end(self) -> None:
        """Close after the last response: at once, or for a refused request (whose client may
        still be sending) half-close, drop what still comes, and close ``LINGER`` s later."""
        if not self._discard or self._transport is None or self._closing:
            self._close()
            return
        self._closing = True
        transport = self._transport
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        try:
            if transport.can_write_eof():
                transport.write_eof()
        except (OSError, RuntimeError):
            transport.close()
            return
        self._loop.call_later(LINGER, transport.close)

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def close_if_idle(self, now: float, timeout: float) -> None:
        if (
            not self._busy
            and not self._queue
            and self._phase == _IDLE
            and now - self.last_active > timeout
        ):
            self._close()


class HttpServer:
    def __init__(
        self,
        handle: Handler,
        *,
        max_body: int,
        upgrade: UpgradeHandler | None = None,
        idle_timeout: float | None = None,
        limits: HttpLimits | None = None,
        body_sink: BodySinks | None = None,
    ) -> None:
        """``idle_timeout``, if given, overrides ``limits.idle_timeout``; ``body_sink`` may take
        a request's body as it arrives (file uploads) instead of it being buffered."""
        self.handle = handle
        self.max_body = max_body
        self.upgrade = upgrade
        self.body_sink = body_sink
        limits = limits or HttpLimits()
        if idle_timeout is not None:
            limits = replace(limits, idle_timeout=idle_timeout)
        self.limits = limits
        self.idle_timeout = limits.idle_timeout
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
