"""WebSocket framing for the sync endpoint, on the transport our HTTP server upgrades.

The ``websockets`` library's sans-I/O protocol does the handshake checks and the framing; this
module moves bytes between it and the asyncio transport, assembles fragmented text messages,
and tells the session when the socket can take more data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import cast

from websockets.frames import Frame, Opcode
from websockets.http11 import Request as WsRequest
from websockets.protocol import State
from websockets.server import ServerProtocol

from livebase.sync.frames import close_reason

log = logging.getLogger("livebase.sync")

MAX_MESSAGE = 32 << 20
GATHER_FROM = 8192
"""Bytes of frames from which ``send_frames`` hands the pieces to the socket as they are."""
CLOSE_TIMEOUT = 5.0
"""Seconds a peer has to answer our close frame before the TCP connection is closed anyway."""


class WebSocketConnection(asyncio.Protocol):
    """An open WebSocket; ``on_text`` gets each complete text message."""

    def __init__(
        self,
        transport: asyncio.BaseTransport,
        protocol: ServerProtocol,
        on_text: Callable[[str], None],
        on_writable: Callable[[], None],
        on_close: Callable[[], None],
    ) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._ws = protocol
        self._on_text = on_text
        self._on_writable = on_writable
        self._on_close = on_close
        self._fragments: list[bytes] = []
        self._fragment_opcode: Opcode | None = None
        self._paused = False
        self._closed = False
        self._closing = False
        self._close_timer: asyncio.TimerHandle | None = None

    # -- transport events ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._ws.receive_data(data)
        for event in self._ws.events_received():
            if isinstance(event, Frame):
                self._frame(event)
        self._flush()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if not self._closed:
            self._closed = True
            self._on_close()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._on_writable()

    # -- frames ----------------------------------------------------------------------------------

    def _frame(self, frame: Frame) -> None:
        if self._closing:
            return  # after a close (a protocol error, say) nothing more is acted on
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._fragment_opcode = frame.opcode
            self._fragments = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT:
            self._fragments.append(bytes(frame.data))
        else:
            return  # ping/pong/close are handled by the protocol object
        if not frame.fin:
            return
        data, opcode = b"".join(self._fragments), self._fragment_opcode
        self._fragments, self._fragment_opcode = [], None
        if opcode is Opcode.BINARY:
            self.close(1003, "binary messages are not supported; send JSON text")
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.close(1007, "message is not valid UTF-8")
            return
        try:
            self._on_text(text)
        except Exception:  # a bug in Livebase (bad input is a protocol error, not this)
            log.exception("sync message handling failed")
            self.close(1011, "InternalServerError")

    # -- sending ---------------------------------------------------------------------------------

    def _open(self) -> bool:
        # The peer may have sent a Close frame already; then nothing more may be sent.
        return not self._closed and self._ws.state is State.OPEN

    def _ready_to_send(self) -> bool:
        if not self._open():
            return False
        if self._ws.writes:
            self._flush()  # anything the protocol object queued (pongs) goes first
        return True

    def send_text(self, text: str) -> None:
        """One text frame."""
        if self._ready_to_send():
            payload = text.encode("utf-8")
            self._transport.write(_frame_header(len(payload)) + payload)

    def send_frames(self, frames: Sequence[Sequence[bytes]]) -> None:
        """Text frames, each given as the pieces of its UTF-8 payload, written to the socket
        together without joining the pieces: a result shared by many subscribers is encoded
        once and handed to every socket as the same bytes (one vectored write each)."""
        if not self._ready_to_send():
            return
        out: list[bytes] = []
        total = 0
        for pieces in frames:
            size = sum(map(len, pieces))
            total += size
            out.append(_frame_header(size))
            out.extend(pieces)
        if total < GATHER_FROM:
            # Joined, a small answer takes the event loop's one-buffer write, which costs less
            # than a vectored one; copying a few KB is cheaper than the difference.
            self._transport.write(b"".join(out))
        else:
            self._transport.writelines(out)

    def send_ping(self) -> None:
        if self._open():
            self._ws.send_ping(b"")
            self._flush()

    def write_paused(self) -> bool:
        return self._paused

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake: a close frame (``reason`` cut to the 123 bytes one can
        carry), then the TCP close once the peer answers it, or after ``CLOSE_TIMEOUT``.

        The TCP connection is not closed at once: a peer that is still sending would get a
        reset, and a reset can make it drop the close frame (and the reason) unread."""
        if self._closed:
            return
        self._closing = True
        try:
            self._ws.send_close(code, close_reason(reason))
        except Exception:  # already closing
            log.debug("close frame not sent", exc_info=True)
        self._flush()

    def _flush(self) -> None:
        for chunk in self._ws.data_to_send():
            if chunk:
                self._transport.write(chunk)
            elif self._transport.can_write_eof():
                self._transport.write_eof()  # the closing handshake is done: half-close
        if self._ws.close_expected() and self._close_timer is None and not self._closed:
            self._closing = True
            loop = asyncio.get_running_loop()
            self._close_timer = loop.call_later(CLOSE_TIMEOUT, self._transport.close)


def _frame_header(n: int) -> bytes:
    # A server's text frame is a 2-10 byte header and the unmasked payload; building it here
    # costs far less per frame than the generic framer, which matters when one commit fans out
    # to thousands of sockets.
    if n < 126:
        return bytes((0x81, n))
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big")
    return bytes((0x81, 127)) + n.to_bytes(8, "big")


def accept(
    headers: dict[str, str], path: str, transport: asyncio.BaseTransport
) -> ServerProtocol | None:
    """Check a WebSocket upgrade request and write the handshake answer; None if refused.

    The HTTP server has parsed the request already; it is replayed into the protocol object so
    that its parser moves on to frames exactly as if it had read the request itself."""
    protocol = ServerProtocol(max_size=MAX_MESSAGE)
    raw = [f"GET {path} HTTP/1.1\r\n"]
    raw.extend(f"{name}: {value}\r\n" for name, value in headers.items())
    raw.append("\r\n")
    protocol.receive_data("".join(raw).encode("latin-1"))
    events = protocol.events_received()
    out = cast(asyncio.Transport, transport)
    if not events or not isinstance(events[0], WsRequest):
        out.close()
        return None
    response = protocol.accept(events[0])
    protocol.send_response(response)
    for chunk in protocol.data_to_send():
        if chunk:
            out.write(chunk)
    if response.status_code != 101:
        out.close()
        return None
    return protocol
