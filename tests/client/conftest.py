"""Fixtures for the ``livebase.client`` tests: real ``livebase serve examples/chat`` processes.

``chat_server`` (one per module) and ``own_server`` (one per test, for tests that kill it) start
``sys.executable -m livebase serve examples/chat --port <free> --data <tmp>`` and wait until
``GET /version`` answers; ``kill9()`` and ``restart()`` crash the process and start a new one on
the same port and data folder. ``Relay`` is a plain TCP relay (real sockets) that a test can put
between the client and the server to swallow the server's bytes or cut the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "livebase-client-tests-admin-key-0123456789"
STARTUP_TIMEOUT = 20.0
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ChatServer:
    """A ``livebase serve examples/chat`` process; its output is appended to ``log_path``."""

    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_key(self) -> str:
        return ADMIN_KEY

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBASE_")}
        env["LIVEBASE_ADMIN_KEY"] = ADMIN_KEY
        env["PYTHONUNBUFFERED"] = "1"
        command = [
            sys.executable, "-m", "livebase", "serve", "examples/chat",
            "--port", str(self.port), "--host", "127.0.0.1",
            "--data", str(self.data_dir), "--durability", "normal",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last = "no attempt"
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"server exited with {self.process.returncode}:\n{self.log_text()}",
                    pytrace=False,
                )
            try:
                r = httpx.get(f"{self.url}/version", timeout=1.0)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                pytest.fail(f"server not ready ({last}):\n{self.log_text()}", pytrace=False)
            time.sleep(0.05)

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        assert self.process is None or self.process.poll() is not None, "stop it first"
        self.start()

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _new_server(base: Path) -> ChatServer:
    base.mkdir(parents=True, exist_ok=True)
    server = ChatServer(port=free_port(), data_dir=base / "data", log_path=base / "server.log")
    server.start()
    return server


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatServer]:
    """A server shared by the tests of one module (tests use their own channel names)."""
    server = _new_server(tmp_path_factory.mktemp("client-chat"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ChatServer]:
    """A server for one test, which may kill and restart it."""
    server = _new_server(tmp_path / "server")
    try:
        yield server
    finally:
        server.stop()


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
