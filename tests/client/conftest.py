"""Fixtures for the ``livebase.client`` tests: real ``livebase serve examples/chat`` processes.

``chat_server`` (one per module) and ``own_server`` (one per test, for tests that kill it) start
``sys.executable -m livebase serve examples/chat --port <free> --data <tmp>`` and wait until
``GET /version`` answers; ``kill9()`` and ``restart()`` crash the process and start a new one on
the same port and data folder. ``Relay`` is a plain TCP relay (real sockets) that a test can put
between the client and the server to swallow the server's bytes or cut the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.server import LivebaseServer
from tests.support.server import free_port as free_port

ADMIN_KEY = "livebase-client-tests-admin-key-0123456789"
T = TypeVar("T")

# A ``livebase serve examples/chat`` process; its output is appended to ``log_path``.
ChatServer = LivebaseServer


def _new_server(base: Path) -> ChatServer:
    return ChatServer.launch(base, admin_key=ADMIN_KEY, durability="normal")


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatServer]:
    """A server shared by the tests of one module (tests use their own channel names)."""
    with _new_server(tmp_path_factory.mktemp("client-chat")) as server:
        yield server


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ChatServer]:
    """A server for one test, which may kill and restart it."""
    with _new_server(tmp_path / "server") as server:
        yield server


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run an async test body on a fresh event loop, failing it after ``timeout`` seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


class Relay:
    """A TCP relay on 127.0.0.1 to ``target_port``, run on the test's event loop.

    ``swallow()`` makes the connections open right now drop every byte from the server (the
    client's bytes still reach it); connections accepted later are relayed normally.
    ``stall()`` makes them stop reading the client's bytes, as a frozen server would: the
    client's socket buffers fill and its writes wait.
    ``cut()`` aborts every relayed connection. While ``refuse`` is set, new connections are
    closed at once. ``accepted`` counts the connections relayed.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        self.refuse = False
        self._server: asyncio.Server | None = None
        self._links: list[_Link] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def swallow(self) -> None:
        for link in self._links:
            link.swallow = True

    def stall(self) -> None:
        for link in self._links:
            link.stall = True

    def cut(self) -> None:
        links, self._links = self._links, []
        for link in links:
            link.client.transport.abort()
            link.upstream.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.transport.abort()
            return
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, up_writer)
        self._links.append(link)
        loop = asyncio.get_running_loop()
        for task in (
            loop.create_task(self._pump(reader, up_writer, link, downstream=False)),
            loop.create_task(self._pump(up_reader, writer, link, downstream=True)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        downstream: bool,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if not downstream and link.stall:
                    await asyncio.Event().wait()  # read nothing more, until cancelled
                if downstream and link.swallow:
                    continue
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()


@dataclass
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    swallow: bool = False
    stall: bool = False
