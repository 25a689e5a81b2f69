"""The HTTP/1.1 server over real sockets: keep-alive, pipelining order, Expect: 100-continue,
chunked bodies, body limits, malformed requests, write backpressure, idle timeouts, shutdown, and
the bounds on hostile clients: request target (414), head size and header count (431), a head or
body that does not arrive in time (408), with the answer readable while the client still sends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from livebase.httpserver import HttpLimits, HttpServer, Request, Response


async def echo(request: Request) -> Response:
    if request.path == "/slow":
        await asyncio.sleep(0.05)
    if request.path == "/big":
        return Response(200, b"x" * (8 << 20), "application/octet-stream")
    body = f"{request.method} {request.path} {request.query} {len(request.body)}".encode()
    return Response(200, body + b" " + request.body[:20], "text/plain", [("x-test", "1")])


def serve(scenario: Callable[[HttpServer], Awaitable[Any]], **kwargs: Any) -> Any:
    async def main() -> Any:
        server = HttpServer(
            kwargs.pop("handler", echo), max_body=kwargs.pop("max_body", 1000), **kwargs
        )
        await server.start("127.0.0.1", 0)
        try:
            return await scenario(server)
        finally:
            await server.stop(grace=1.0)

    return asyncio.run(main())


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    async def scenario(server: HttpServer) -> list[bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        bodies = []
        for i in range(20):
            writer.write(post(f"/r{i}?q={i}", b"payload"))
            status, headers, body = await read_response(reader)
            assert status == 200 and headers["x-test"] == "1"
            assert "connection" not in headers
            bodies.append(body)
        writer.close()
        return bodies

    bodies = serve(scenario)
    assert bodies[3] == b"POST /r3 q=3 7 payload"


def test_pipelined_requests_are_answered_in_order() -> None:
    async def scenario(server: HttpServer) -> list[bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        # The first request is slow; its answer must still come first.
        writer.write(post("/slow", b"a") + post("/fast", b"bb") + post("/fast2", b"ccc"))
        answers = [(await read_response(reader))[2] for _ in range(3)]
        writer.close()
        return answers

    assert serve(scenario) == [b"POST /slow  1 a", b"POST /fast  2 bb", b"POST /fast2  3 ccc"]


def test_expect_100_continue_and_chunked_bodies() -> None:
    async def scenario(server: HttpServer) -> tuple[bytes, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"hello")
        _, _, first = await read_response(reader)
        writer.write(
            b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
        )
        _, _, second = await read_response(reader)
        writer.close()
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        return first, second

    first, second = serve(scenario)
    assert first == b"POST /e  5 hello"
    assert second == b"POST /c  7 abcdefg"


def test_oversize_body_gets_413_and_the_connection_closes() -> None:
    async def scenario(server: HttpServer) -> tuple[int, dict[str, str], bytes, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post("/x", b"y" * 5000))
        status, headers, body = await read_response(reader)
        rest = await reader.read()
        writer.close()
        return status, headers, body, rest

    status, headers, body, rest = serve(scenario)
    assert status == 413 and headers["connection"] == "close"
    assert b"RequestTooLarge" in body
    assert rest == b""


@pytest.mark.parametrize(
    "garbage", [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"]
)
def test_malformed_requests_get_400_and_the_server_keeps_serving(garbage: bytes) -> None:
    async def scenario(server: HttpServer) -> tuple[int, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(garbage)
        bad, _, _ = await read_response(reader)
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post("/ok", b"1"))
        good, _, _ = await read_response(reader)
        writer.close()
        return bad, good

    assert serve(scenario) == (400, 200)


def test_http_1_0_and_connection_close_end_the_connection() -> None:
    async def scenario(server: HttpServer) -> tuple[str, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /old HTTP/1.0\r\n\r\n")
        _, headers, _ = await read_response(reader)
        rest = await reader.read()
        writer.close()
        return headers.get("connection", ""), rest

    assert serve(scenario) == ("close", b"")


def test_large_responses_reach_a_slow_reader_completely() -> None:
    async def scenario(server: HttpServer) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=1 << 16)
        writer.write(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        await asyncio.sleep(0.2)  # let the server's write buffer fill up and pause
        _, _, body = await read_response(reader)
        writer.close()
        return len(body)

    assert serve(scenario) == 8 << 20


def test_idle_connections_are_closed() -> None:
    async def scenario(server: HttpServer) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post("/x", b""))
        await read_response(reader)
        rest = await asyncio.wait_for(reader.read(), timeout=5)
        writer.close()
        return rest

    assert serve(scenario, idle_timeout=0.2) == b""


def test_stop_lets_in_flight_requests_finish() -> None:
    started = asyncio.Event()

    async def handler(request: Request) -> Response:
        started.set()
        return await echo(request)

    async def scenario(server: HttpServer) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post("/slow", b"z"))
        await started.wait()  # in flight: the handler runs
        stopping = asyncio.ensure_future(server.stop(grace=2.0))
        status, headers, _ = await read_response(reader)
        await stopping
        writer.close()
        assert headers["connection"] == "close"
        return status

    assert serve(scenario, handler=handler) == 200


def test_a_handler_error_is_a_500_not_a_dead_connection() -> None:
    async def broken(request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("bug")
        return Response(200, b"fine")

    async def scenario(server: HttpServer) -> tuple[int, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post("/boom", b""))
        first, _, _ = await read_response(reader)
        writer.write(post("/ok", b""))
        second, _, _ = await read_response(reader)
        writer.close()
        return first, second

    assert serve(scenario, handler=broken) == (500, 200)


# -- streamed responses (Server-Sent Events) ----------------------------------------------------


async def read_chunks(reader: asyncio.StreamReader) -> list[bytes]:
    """A chunked body, chunk by chunk, up to and without the last (empty) chunk."""
    chunks = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        data = await reader.readexactly(size + 2)
        if size == 0:
            return chunks
        assert data.endswith(b"\r\n")
        chunks.append(data[:-2])


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(head[0].split(" ")[1]), headers


class Streams:
    """A handler whose ``/stream?n`` answers ``n`` chunks (forever without ``n``), recording
    how far each stream got and whether it was closed."""

    def __init__(self, chunk: bytes = b"data: x\n\n") -> None:
        self.chunk = chunk
        self.produced = 0
        self.closed = asyncio.Event()

    async def __call__(self, request: Request) -> Response:
        if request.path == "/stream":
            n = int(request.query) if request.query else None
            return Response(200, content_type="text/event-stream", stream=self._gen(n))
        if request.path == "/broken":
            return Response(200, stream=self._broken())
        return await echo(request)

    async def _gen(self, n: int | None) -> Any:
        try:
            i = 0
            while n is None or i < n:
                self.produced += 1
                yield self.chunk if n is None else b"chunk %d" % i
                yield b""  # empty chunks are skipped, not sent as the end
                i += 1
                await asyncio.sleep(0.001 if n is None else 0)
        finally:
            self.closed.set()

    async def _broken(self) -> Any:
        yield b"first"
        raise RuntimeError("stream bug")


def test_a_streamed_response_is_chunked_and_the_connection_stays_usable() -> None:
    streams = Streams()

    async def scenario(server: HttpServer) -> tuple[list[bytes], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /stream?3 HTTP/1.1\r\nHost: t\r\n\r\n" + post("/after", b"ok"))
        status, headers = await read_head(reader)
        assert status == 200 and headers["transfer-encoding"] == "chunked"
        assert "content-length" not in headers
        assert headers["content-type"] == "text/event-stream"
        chunks = await read_chunks(reader)
        _, _, body = await read_response(reader)
        writer.close()
        return chunks, body

    chunks, after = serve(scenario, handler=streams)
    assert chunks == [b"chunk 0", b"chunk 1", b"chunk 2"]
    assert after == b"POST /after  2 ok"
    assert streams.closed.is_set()


def test_a_client_that_goes_away_ends_the_stream() -> None:
    streams = Streams()

    async def scenario(server: HttpServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        await read_head(reader)
        await reader.readuntil(b"data: x\n\n")
        writer.close()
        await asyncio.wait_for(streams.closed.wait(), 10.0)
        produced = streams.produced
        await asyncio.sleep(0.05)
        assert streams.produced == produced  # nothing runs after the client left
        assert not server.connections

    serve(scenario, handler=streams)


def test_stop_ends_open_streams_at_once_with_a_clean_last_chunk() -> None:
    streams = Streams()

    async def scenario(server: HttpServer) -> tuple[float, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        await read_head(reader)
        await reader.readuntil(b"data: x\n\n")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await server.stop(grace=10.0)
        took = loop.time() - started
        rest = await asyncio.wait_for(reader.read(), 10.0)
        writer.close()
        return took, rest

    took, rest = serve(scenario, handler=streams)
    assert took < 1.0
    assert rest.endswith(b"\r\n0\r\n\r\n")
    assert streams.closed.is_set()


def test_a_stream_waits_for_a_slow_reader() -> None:
    streams = Streams(chunk=b"y" * (256 << 10))

    async def scenario(server: HttpServer) -> tuple[int, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=1 << 16)
        writer.write(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        await asyncio.sleep(0.5)  # not reading: the server must pause instead of buffering
        paused_at = streams.produced
        received = 0
        while received < 64 << 20:
            received += len(await reader.read(1 << 20))
        writer.close()
        return paused_at, streams.produced

    paused_at, produced = serve(scenario, handler=streams)
    assert paused_at < 64  # far less than 0.5 s of unthrottled 256 KiB chunks
    assert produced >= 256


def test_a_failing_stream_is_cut_short_without_a_last_chunk() -> None:
    async def scenario(server: HttpServer) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /broken HTTP/1.1\r\nHost: t\r\n\r\n")
        await read_head(reader)
        rest = await asyncio.wait_for(reader.read(), 10.0)
        writer.close()
        return rest

    assert serve(scenario, handler=Streams()) == b"5\r\nfirst\r\n"


# -- limits on what a client may send ------------------------------------------------------------


async def answer_while_sending(
    server: HttpServer, first: bytes, filler: bytes, total: int
) -> tuple[int, dict[str, str], bytes, bytes, float]:
    """Send ``first`` and then ``filler`` until ``total`` bytes went out (or the server stops
    taking them), reading the answer meanwhile: (status, headers, body, what came after the
    body, seconds until the answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def send() -> None:
        writer.write(first)
        sent = len(first)
        while sent < total:
            writer.write(filler)
            sent += len(filler)
            await writer.drain()

    sending = asyncio.ensure_future(send())
    try:
        status, headers, body = await asyncio.wait_for(read_response(reader), 10.0)
        took = loop.time() - started
        rest = await asyncio.wait_for(reader.read(), 10.0)
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()
    return status, headers, body, rest, took


def test_a_64_mb_request_target_gets_414_at_once() -> None:
    async def scenario(server: HttpServer) -> Any:
        return await answer_while_sending(server, b"GET /", b"a" * (1 << 20), 64 << 20)

    status, headers, body, rest, took = serve(scenario)
    assert status == 414 and headers["connection"] == "close"
    assert b"RequestTargetTooLong" in body and b"8192 bytes" in body
    assert rest == b""  # then the server closes its side
    assert took < 2.0  # refused on the first reads, not after 64 MB


def test_a_64_mb_header_gets_431_at_once() -> None:
    async def scenario(server: HttpServer) -> Any:
        first = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: "
        return await answer_while_sending(server, first, b"a" * (1 << 20), 64 << 20)

    status, headers, body, rest, took = serve(scenario)
    assert status == 431 and headers["connection"] == "close"
    assert b"RequestHeaderFieldsTooLarge" in body and b"65536 bytes" in body
    assert rest == b""
    assert took < 2.0


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /" + b"p" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + b"X-H: v\r\n" * 101 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nX-Header: " + b"v" * 900 + b"\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\nX-Header: " + b"v" * 1100 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"X-H: v\r\n" * 100 + b"\r\n", 200),
    ],
)
def test_head_limits_in_one_read(head: bytes, status: int) -> None:
    """Heads that arrive in one read: the exact size of the target and headers (1000 bytes
    allowed here) and the number of headers (100) decide."""

    async def scenario(server: HttpServer) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head)
        got, _, _ = await read_response(reader)
        writer.close()
        return got

    assert serve(scenario, limits=HttpLimits(max_head=1000, max_target=8192)) == status


def test_a_content_length_over_the_limit_gets_413_before_the_body() -> None:
    async def scenario(server: HttpServer) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        status, _, body = await asyncio.wait_for(read_response(reader), 10.0)
        writer.close()
        return status, body

    status, body = serve(scenario)
    assert status == 413 and b"RequestTooLarge" in body  # and no "100 Continue" first


def test_a_trickled_head_gets_408_after_the_head_deadline() -> None:
    async def scenario(server: HttpServer) -> tuple[int, bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def trickle() -> None:
            writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n")
            for _ in range(100):  # a header line every 0.1 s: never idle, never done
                await asyncio.sleep(0.1)
                writer.write(b"X-A: b\r\n")

        sending = asyncio.ensure_future(trickle())
        status, _, body = await asyncio.wait_for(read_response(reader), 5.0)
        took = loop.time() - started
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()
        return status, body, took

    status, body, took = serve(scenario, limits=HttpLimits(head_timeout=0.5))
    assert status == 408 and b"RequestTimeout" in body and b"head" in body
    assert 0.4 < took < 2.0


@pytest.mark.parametrize("pace", [0.1, None], ids=["trickled", "stalled"])
def test_a_trickled_or_stalled_body_gets_408(pace: float | None) -> None:
    async def scenario(server: HttpServer) -> tuple[int, bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def trickle() -> None:
            writer.write(b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 900\r\n\r\nxx")
            for _ in range(100):
                await asyncio.sleep(pace or 10.0)
                writer.write(b"x")

        sending = asyncio.ensure_future(trickle())
        status, _, body = await asyncio.wait_for(read_response(reader), 5.0)
        took = loop.time() - started
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()
        return status, body, took

    limits = HttpLimits(body_timeout=0.5, body_min_rate=100.0)
    status, body, took = serve(scenario, limits=limits)
    assert status == 408 and b"RequestTimeout" in body and b"body" in body
    assert 0.4 < took < 2.0


def test_a_slow_but_steady_body_and_slow_handlers_are_not_cut_off() -> None:
    """The deadlines bound what the client sends, never how long the server takes: a body at
    the minimum rate gets through, so do pipelined requests behind a slow one, and a stream
    outlives every deadline."""
    streams = Streams()

    async def handler(request: Request) -> Response:
        if request.path == "/slower":
            await asyncio.sleep(0.8)
        return await streams(request)

    async def scenario(server: HttpServer) -> tuple[bytes, list[bytes], int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 400\r\n\r\n")
        for _ in range(8):  # 400 bytes in 1.2 s: 333 bytes/s, above the 100 bytes/s minimum
            writer.write(b"u" * 50)
            await asyncio.sleep(0.15)
        _, _, uploaded = await read_response(reader)
        writer.write(post("/slower", b"1") + post("/next", b"2"))
        bodies = [(await read_response(reader))[2] for _ in range(2)]
        writer.write(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        await read_head(reader)
        await asyncio.sleep(1.2)
        size = len(await reader.readuntil(b"data: x\n\n"))
        writer.close()
        return uploaded, bodies, size

    limits = HttpLimits(head_timeout=0.5, body_timeout=0.5, body_min_rate=100.0)
    uploaded, bodies, size = serve(scenario, handler=handler, limits=limits)
    assert uploaded.startswith(b"POST /up  400 uuuu")
    assert bodies == [b"POST /slower  1 1", b"POST /next  1 2"]
    assert size > 0


def test_deadlines_of_zero_are_off() -> None:
    async def scenario(server: HttpServer) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for piece in (b"POST /z HTTP/1.1\r\n", b"Host: t\r\n", b"Content-Length: 2\r\n\r\n", b"a"):
            writer.write(piece)
            await asyncio.sleep(0.3)
        writer.write(b"b")
        _, _, body = await read_response(reader)
        writer.close()
        return body

    limits = HttpLimits(head_timeout=0, body_timeout=0, body_min_rate=0)
    assert serve(scenario, limits=limits) == b"POST /z  2 ab"
