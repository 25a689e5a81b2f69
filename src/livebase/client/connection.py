"""The WebSocket to ``/api/sync``: connecting, reading, writing and reconnecting.

``Connection`` runs one task that keeps a socket open for as long as the client lives. For each
socket it asks its handler for the opening messages (``on_open``), writes everything queued with
``send`` in order from a single writer task, feeds every parsed server message to
``handle`` and, when the socket ends, calls ``on_close`` and reconnects with exponential
backoff (100 ms doubling to 10 s, with jitter; reset once a socket has received messages
and ended for an ordinary reason).

A socket is given up and replaced when the server closes it, when nothing (not even a ``Ping``)
has arrived for ``inactivity_timeout`` seconds (``InactiveServer``), when a frame cannot be parsed
(``ProtocolFailure``), or when the handler asks for a restart (e.g. ``StartVersionMismatch``).
That reason is passed to the next ``on_open`` as ``lastCloseReason``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livebase.client import protocol
from livebase.client.errors import ProtocolError
from livebase.client.protocol import JsonObject, ServerMessage

log = logging.getLogger("livebase.client")

_CLOSE_TIMEOUT = 1.0  # seconds for the server to answer our close frame

# Close reasons that say the server misbehaved: the backoff keeps growing across them, so a
# server that keeps doing it is not hammered with reconnects.
_PROTOCOL_TROUBLE = frozenset(
    {"StartVersionMismatch", "ProtocolFailure", "FatalError", "AuthError", "ClientError"}
)


class ConnectionHandler(Protocol):
    """What the connection reports to (``SyncState`` implements it)."""

    def on_open(self, connection_count: int, last_close_reason: str | None) -> list[JsonObject]:
        """A socket opened: return the messages to send first."""
        ...

    def handle(self, message: ServerMessage) -> str | None:
        """A message arrived: return a close reason to restart the socket, else ``None``."""
        ...

    def on_close(self) -> None:
        """The socket is gone (a reconnect follows unless the connection is closing)."""
        ...


class Connection:
    """A self-healing WebSocket to a Livebase (or Convex) deployment's sync endpoint."""

    def __init__(
        self,
        url: str,
        handler: ConnectionHandler,
        *,
        headers: dict[str, str] | None = None,
        inactivity_timeout: float = 30.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self._handler = handler
        self._headers = dict(headers or {})
        self._inactivity_timeout = inactivity_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._open_timeout = open_timeout
        self._outbox: asyncio.Queue[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connection_count = 0  # sockets opened so far

    @property
    def is_open(self) -> bool:
        return self._outbox is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"livebase-client {self.url}"
            )

    def send(self, message: JsonObject) -> None:
        """Queue a message on the open socket; dropped when there is none (the handler
        rebuilds what matters in the next ``on_open``)."""
        if self._outbox is not None:
            self._outbox.put_nowait(protocol.dumps(message))

    async def close(self) -> None:
        """Close the socket and stop reconnecting."""
        self._closing = True
        task, self._task = self._task, None
        if task is None or task.done():
            return
        await _cancel_and_wait(task)
        await asyncio.sleep(0)  # a transport closed just now releases its socket on the next turn

    # ------------------------------------------------------------------ internals

    def _backoff(self, attempt: int) -> float:
        base = min(self._backoff_max, self._backoff_initial * 2.0 ** min(attempt, 32))
        return base / 2 + random.random() * base / 2

    async def _run(self) -> None:
        attempt = 0
        reason: str | None = "InitialConnect"
        while not self._closing:
            try:
                ws = await connect(
                    self.url,
                    additional_headers=self._headers,
                    open_timeout=self._open_timeout,
                    ping_interval=None,  # the server pings; its Pings feed the inactivity timer
                    close_timeout=_CLOSE_TIMEOUT,
                    max_size=None,
                    compression=None,
                    proxy=None,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = self._backoff(attempt)
                attempt += 1
                log.info("connecting to %s failed (%s); retrying in %.2f s", self.url, exc, delay)
                await asyncio.sleep(delay)
                continue
            try:
                received, reason = await self._session(ws, reason)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("connection to %s failed unexpectedly", self.url)
                received, reason = False, "ClientError"
            if self._closing:
                return
            if received and reason not in _PROTOCOL_TROUBLE:
                attempt = 0  # a healthy socket that ended: retry fast
            delay = self._backoff(attempt)
            attempt += 1
            log.info("connection to %s lost (%s); reconnecting in %.2f s", self.url, reason, delay)
            await asyncio.sleep(delay)

    async def _session(
        self, ws: ClientConnection, last_close_reason: str | None
    ) -> tuple[bool, str]:
        """Run one socket until it ends; returns (received anything, close reason)."""
        received = [False]
        reason = "closed"
        writer: asyncio.Task[None] | None = None
        try:
            outbox: asyncio.Queue[str] = asyncio.Queue()
            for message in self._handler.on_open(self.connection_count, last_close_reason):
                outbox.put_nowait(protocol.dumps(message))
            self.connection_count += 1
            self._outbox = outbox
            writer = asyncio.get_running_loop().create_task(self._write(ws, outbox))
            reason = await self._read(ws, received)
        finally:
            self._outbox = None
            try:
                if writer is not None:
                    await _cancel_and_wait(writer)
                if not self._closing:
                    self._handler.on_close()
                # websockets waits for unsent bytes to drain before its close handshake, with
                # no deadline: a peer that stopped reading (frozen, or buffers full) would
                # hold close() forever. The close gets the close timeout and a margin.
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(_CLOSE_TIMEOUT + 1.0):
                        await ws.close()
            finally:
                # However the close ended (timed out, cancelled half-way), the socket goes with
                # it, buffered bytes or not: a transport still closing with data queued is
                # never released once its loop stops, and the collector warns about it.
                ws.transport.abort()
        return received[0], reason

    @staticmethod
    async def _write(ws: ClientConnection, outbox: asyncio.Queue[str]) -> None:
        while True:
            text = await outbox.get()
            try:
                await ws.send(text)
            except ConnectionClosed:
                return  # the reader sees the close and ends the session

    async def _read(self, ws: ClientConnection, received: list[bool]) -> str:
        chunks: dict[str, list[str]] = {}
        while True:
            try:
                async with asyncio.timeout(self._inactivity_timeout):
                    frame = await ws.recv()
            except TimeoutError:
                log.warning(
                    "no message from %s for %.0f s; reconnecting",
                    self.url,
                    self._inactivity_timeout,
                )
                return "InactiveServer"
            except ConnectionClosed as exc:
                return _close_reason(exc)
            received[0] = True
            try:
                message = protocol.parse_server_message(frame)
                if isinstance(message, protocol.TransitionChunk):
                    joined = _add_chunk(chunks, message)
                    if joined is None:
                        continue
                    message = protocol.parse_server_message(joined)
            except ProtocolError as exc:
                log.warning("bad message from %s: %s; reconnecting", self.url, exc)
                return "ProtocolFailure"
            try:
                restart = self._handler.handle(message)
            except Exception:
                log.exception("failed to handle a %s message; reconnecting", type(message).__name__)
                return "ClientError"
            if restart is not None:
                return restart


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it to end. A cancellation of the caller while it waits is
    raised (not mistaken for the task's own and swallowed), and hurries the task along."""
    task.cancel()
    try:
        await asyncio.wait([task])
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not task.cancelled() and task.exception() is not None:
        log.error("a client task failed as it was stopped", exc_info=task.exception())


def _add_chunk(chunks: dict[str, list[str]], chunk: protocol.TransitionChunk) -> str | None:
    """Collect a ``TransitionChunk``; the joined text once every part has arrived."""
    parts = chunks.setdefault(chunk.transition_id, [])
    if chunk.part_number != len(parts) or chunk.total_parts <= chunk.part_number:
        raise ProtocolError(
            f"TransitionChunk part {chunk.part_number}/{chunk.total_parts} out of order"
        )
    parts.append(chunk.chunk)
    if len(parts) < chunk.total_parts:
        return None
    del chunks[chunk.transition_id]
    return "".join(parts)


def _close_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd
    if frame is None:
        return "closed with code 1006"
    return frame.reason or f"closed with code {frame.code}"


__all__ = ["Connection", "ConnectionHandler"]
