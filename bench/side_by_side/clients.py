"""Raw clients, no SDK on either side, so the client's own cost does not hide the server's.

* ``SyncSocket``: Livebase's sync WebSocket (Convex wire protocol) on websockets' Sans-I/O
  protocol under a plain asyncio Protocol; a frame is timestamped when its bytes arrive.
* ``SseStream``: PocketBase's ``/api/realtime`` event stream, read as HTTP/1.0 so the body is the
  raw event stream (no chunked framing to undo).
* ``Deliveries``: which connections have seen the current write, found by its unique body text.

HTTP requests (mutations, record creates) use the keep-alive client of ``http_mutations.py``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any, cast

import http_mutations as hm
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

CLOCK = time.monotonic_ns
OnData = Callable[[int, bytes, int], None]  # (connection index, bytes, arrival time ns)


def no_data(index: int, data: bytes, t: int) -> None:
    pass


class Deliveries:
    """Arrival times of one write at the connections expected to see it."""

    def __init__(self) -> None:
        self.marker = b"\x00"  # matches nothing until the first write
        self.expected: set[int] = set()
        self.got: dict[int, int] = {}
        self.done = asyncio.Event()

    def expect(self, body: str, connections: set[int]) -> None:
        # The quoted field makes "w-12" unable to match inside "w-123".
        self.marker = b'"body":"' + body.encode() + b'"'
        self.expected, self.got = connections, {}
        self.done.clear()

    def seen(self, index: int, data: bytes, t: int) -> None:
        if index in self.expected and index not in self.got and self.marker in data:
            self.got[index] = t
            if len(self.got) == len(self.expected):
                self.done.set()


def _nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class SyncSocket(asyncio.Protocol):
    """One Livebase sync session: Connect, query sets, mutations; Transitions go to ``on_data``."""

    def __init__(self, index: int, port: int, on_data: OnData = no_data) -> None:
        self.index, self.port, self.on_data = index, port, on_data
        self.proto = ClientProtocol(parse_uri(f"ws://{hm.HOST}:{port}/api/sync"), max_size=2**26)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.transition: asyncio.Future[None] = loop.create_future()
        self.mutation: asyncio.Future[None] | None = None
        self.answered = False
        self.parts: list[bytes] = []
        self.query_set = 0
        self.request_id = 0

    async def open(self, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: self, hm.HOST, self.port)
            await self.opened
        self.send({"type": "Connect", "sessionId": str(uuid.uuid4()), "connectionCount": 0,
                   "lastCloseReason": "InitialConnect", "clientTs": 0})  # fmt: skip

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        _nodelay(transport)
        self.proto.send_request(self.proto.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        t = CLOCK()
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            if not isinstance(event, Frame):
                if not self.opened.done():  # the handshake response
                    exc = self.proto.handshake_exc
                    self.opened.set_exception(exc) if exc else self.opened.set_result(None)
                continue
            if event.opcode is Opcode.TEXT or (event.opcode is Opcode.CONT and self.parts):
                self.parts.append(bytes(event.data))
                if event.fin:
                    frame, self.parts = b"".join(self.parts), []
                    self._frame(frame, t)
        self._flush()

    def _frame(self, frame: bytes, t: int) -> None:
        head = frame[:40]
        if b'"Transition"' in head:
            if not self.transition.done():
                self.transition.set_result(None)
            if self.answered and self.mutation is not None and not self.mutation.done():
                # A Convex client resolves a mutation on the first Transition after its response.
                self.mutation.set_result(None)
            self.on_data(self.index, frame, t)
        elif b'"MutationResponse"' in head and self.mutation is not None:
            if b'"success":true' in frame:
                self.answered = True
            elif not self.mutation.done():
                self.mutation.set_exception(hm.BenchError(f"mutation failed: {frame[:300]!r}"))

    def _flush(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        for data in self.proto.data_to_send():
            if data:
                self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        err = ConnectionError(f"sync socket closed: {self.proto.close_code} {exc}")
        for fut in (self.opened, self.transition, self.mutation):
            if fut is not None and not fut.done():
                fut.set_exception(err)

    def send(self, message: dict[str, Any]) -> None:
        self.proto.send_text(json.dumps(message, separators=(",", ":")).encode())
        self._flush()

    async def subscribe(
        self, queries: list[tuple[int, str, dict[str, Any]]], timeout: float
    ) -> None:
        """Add queries ``(queryId, udfPath, args)`` and wait for the Transition with results."""
        self.transition = asyncio.get_running_loop().create_future()
        adds = [{"type": "Add", "queryId": q, "udfPath": path, "args": [args]}
                for q, path, args in queries]  # fmt: skip
        self.send({"type": "ModifyQuerySet", "baseVersion": self.query_set,
                   "newVersion": self.query_set + 1, "modifications": adds})  # fmt: skip
        self.query_set += 1
        async with asyncio.timeout(timeout):
            await self.transition

    async def call_mutation(self, path: str, args: dict[str, Any], timeout: float = 10.0) -> None:
        """Send one mutation; return when the client library would resolve it."""
        self.mutation = asyncio.get_running_loop().create_future()
        self.answered = False
        self.send({"type": "Mutation", "requestId": self.request_id, "udfPath": path,
                   "args": [args]})  # fmt: skip
        self.request_id += 1
        async with asyncio.timeout(timeout):
            await self.mutation

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.proto.send_close(1000)
            self._flush()
            self.transport.close()


class SseStream(asyncio.Protocol):
    """One PocketBase realtime client: the SSE stream; events go to ``on_data``."""

    def __init__(self, index: int, port: int, on_data: OnData = no_data) -> None:
        self.index, self.port, self.on_data = index, port, on_data
        self.buf = b""
        self.in_body = False
        self.transport: asyncio.Transport | None = None
        self.client_id: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def open(self, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: self, hm.HOST, self.port)
            await self.client_id

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        _nodelay(transport)
        self.transport.write(
            b"GET /api/realtime HTTP/1.0\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n"
            % (hm.HOST.encode(), self.port)
        )

    def data_received(self, data: bytes) -> None:
        t = CLOCK()
        self.buf += data
        if not self.in_body:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.buf, self.in_body = self.buf[end + 4 :], True
        while (end := self.buf.find(b"\n\n")) >= 0:
            event, self.buf = self.buf[:end], self.buf[end + 2 :]
            if not self.client_id.done() and b"event:PB_CONNECT" in event:
                data_line = event[event.index(b"data:") + 5 :]
                self.client_id.set_result(json.loads(data_line)["clientId"])
            else:
                self.on_data(self.index, event, t)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.client_id.done():
            self.client_id.set_exception(ConnectionError(f"SSE stream closed: {exc}"))

    async def subscribe(self, channels: list[str]) -> None:
        """Subscribe to the messages collection, one topic per channel filter."""
        topics = [
            "messages/*?options="
            + urllib.parse.quote(json.dumps({"query": {"filter": f"channel='{c}'"}}))
            for c in channels
        ]
        body = {"clientId": self.client_id.result(), "subscriptions": topics}
        status, answer = await _post_json(self.port, "/api/realtime", body)
        if status != 204:
            raise hm.BenchError(f"PocketBase refused the subscriptions: {status} {answer!r}")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _post_json(port: int, path: str, body: object) -> tuple[int, bytes]:
    raw = json.dumps(body).encode()
    reader, writer = await asyncio.open_connection(hm.HOST, port)
    try:
        writer.write(hm.build_request("POST", path, port, raw, close=True))
        status, data, _ = await hm.read_response(reader)
    finally:
        writer.close()
    return status, data


def write_request(side: str, port: int, channel: str, body: str) -> bytes:
    """The HTTP request that inserts one message on ``side``."""
    if side == "livebase":
        payload: dict[str, Any] = {"path": "messages:send", "args": {"channel": channel,
                                   "body": body}, "format": "convex_encoded_json"}  # fmt: skip
        path = "/api/mutation"
    else:
        payload, path = {"channel": channel, "body": body}, "/api/collections/messages/records"
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return hm.build_request("POST", path, port, raw)


async def http_write(conn: hm.Connection, side: str, channel: str, body: str) -> None:
    conn.request = write_request(side, conn.port, channel, body)
    status, resp = await conn.send()
    # Livebase answers a failed mutation with a 200 too; its body then has no "success".
    if status != 200 or (side == "livebase" and b'"success"' not in resp):
        raise hm.BenchError(f"{side} write answered HTTP {status}: {resp[:300]!r}")
