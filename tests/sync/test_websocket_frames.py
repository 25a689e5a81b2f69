"""``livebase.sync.websocket``: the frames the server writes are valid WebSocket text frames at
every payload size, whole messages whatever pieces they were given as, and a shared result's
bytes reach the transport as the same object on every socket (encoded once, never copied)."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from livebase.sync.websocket import WebSocketConnection, accept


class RecordingTransport(asyncio.Transport):
    """What a socket would have been written, call by call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[bytes]] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.calls.append([bytes(data)])

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append(list(list_of_data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def open_connection() -> tuple[WebSocketConnection, RecordingTransport]:
    transport = RecordingTransport()
    key = base64.b64encode(os.urandom(16)).decode()
    headers = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
    }
    protocol = accept(headers, "/api/sync", transport)
    assert protocol is not None, transport.calls
    transport.calls.clear()  # the handshake's answer
    conn = WebSocketConnection(transport, protocol, lambda _: None, lambda: None, lambda: None)
    return conn, transport


def frames_in(data: bytes) -> list[Frame]:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    out = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            out.append(done.value)
        else:
            raise AssertionError("a frame was cut short")
    return out


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 300_000])
def test_a_frame_of_any_size_is_one_valid_unmasked_text_frame(size: int) -> None:
    conn, transport = open_connection()
    payload = ("é" * size).encode()[:size]  # multi-byte text, cut to the size asked
    payload = payload.decode(errors="ignore").encode()
    conn.send_frames([[payload]])
    [frame] = frames_in(b"".join(transport.calls[0]))
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, payload)


def test_frames_given_in_pieces_arrive_as_whole_messages_in_one_write() -> None:
    conn, transport = open_connection()
    lead = b'{"type":"MutationResponse"}'
    pieces = [
        b'{"type":"Transition","modifications":[{"queryId":1',
        b',"value":"' + b"x" * 70_000,
        b'"}]}',
    ]
    conn.send_frames([[lead], pieces])
    assert len(transport.calls) == 1, "the answer and its Transition go out in one write"
    assert [f.data for f in frames_in(b"".join(transport.calls[0]))] == [lead, b"".join(pieces)]


def test_a_shared_result_is_handed_to_every_socket_as_the_same_bytes() -> None:
    shared = b',"value":[' + b"1," * 20_000 + b"2]}"
    writes = []
    for query_id in (1, 2, 3):
        conn, transport = open_connection()
        conn.send_frames([[b'{"queryId":%d' % query_id, shared]])
        [written] = transport.calls
        writes.append(written)
        [frame] = frames_in(b"".join(written))
        assert frame.data == b'{"queryId":%d' % query_id + shared
    assert all(any(piece is shared for piece in written) for written in writes)


def test_nothing_is_written_once_the_socket_is_closing() -> None:
    async def scenario() -> None:  # the close timer needs a running loop
        conn, transport = open_connection()
        conn.send_text("before")
        conn.close(1000, "bye")
        sent = len(transport.calls)
        conn.send_frames([[b"late"]])
        conn.send_text("late")
        assert len(transport.calls) == sent
        written = frames_in(b"".join(b"".join(call) for call in transport.calls))
        assert [(f.opcode, f.data) for f in written] == [
            (Opcode.TEXT, b"before"),
            (Opcode.CLOSE, (1000).to_bytes(2, "big") + b"bye"),
        ]

    asyncio.run(scenario())
