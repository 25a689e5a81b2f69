"""Fixtures that run a real ``livebase serve`` process on the chat example, and the JS client."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAT_APP = REPO_ROOT / "examples" / "chat"
JS_CLIENT_DIR = REPO_ROOT / "tests" / "clients" / "js"
PY_CLIENT_DIR = REPO_ROOT / "tests" / "clients" / "py"

TEST_ADMIN_KEY = "livebase-e2e-admin-key-0123456789abcdef"
STARTUP_TIMEOUT = 20.0


@dataclass
class ChatServer:
    """A running ``livebase serve examples/chat``; ``log_path`` holds its stdout and stderr.

    ``kill9`` and ``restart`` let a test crash the process and start a new one on the same port
    and data folder (the output of every run is appended to ``log_path``).
    """

    url: str
    admin_key: str
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 5.0) -> bool:
        """True once ``needle`` shows up in the server output (written asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            if needle in self.log_text():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets open but reads and answers nothing."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def kill9(self) -> None:
        """SIGKILL the server process and wait until it is gone."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Start a new process on the same port and data folder (the old one must be dead)."""
        assert self.process.poll() is not None, "restart() needs the old process stopped"
        self.process = _start_process(self.port, self.data_dir, self.log_path)
        _wait_ready(self.process, self.url, self.log_path)

    def stop(self) -> None:
        _stop(self.process)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # A SIGSTOPped process ignores SIGTERM until continued.
    try:
        os.kill(process.pid, signal.SIGCONT)
    except ProcessLookupError:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _server_command(port: int, data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "livebase",
        "serve",
        "examples/chat",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--data",
        str(data_dir),
    ]


def _start_process(port: int, data_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["LIVEBASE_ADMIN_KEY"] = TEST_ADMIN_KEY
    env["PYTHONUNBUFFERED"] = "1"
    # Run the working tree's package even if it has not been installed into the venv.
    src = str(REPO_ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            _server_command(port, data_dir),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error = "no attempt made"
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"livebase serve exited with status {process.returncode} before it was "
                f"ready.\ncommand: {process.args}\noutput:\n"
                f"{log_path.read_text(encoding='utf-8', errors='replace')}",
                pytrace=False,
            )
        try:
            response = httpx.get(f"{url}/version", timeout=1.0)
            if response.status_code == 200:
                return
            last_error = f"GET /version -> {response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last_error = f"GET /version -> {type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            _stop(process)
            pytest.fail(
                f"livebase serve did not answer GET /version within {STARTUP_TIMEOUT:.0f} s "
                f"(last: {last_error}).\ncommand: {process.args}\noutput:\n"
                f"{log_path.read_text(encoding='utf-8', errors='replace')}",
                pytrace=False,
            )
        time.sleep(0.05)


def launch_chat_server(base: Path) -> ChatServer:
    """Start ``livebase serve examples/chat`` on a free port with its data under ``base``."""
    base.mkdir(parents=True, exist_ok=True)
    data_dir = base / "data"
    log_path = base / "server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = _start_process(port, data_dir, log_path)
    _wait_ready(process, url, log_path)
    return ChatServer(
        url=url,
        admin_key=TEST_ADMIN_KEY,
        port=port,
        data_dir=data_dir,
        log_path=log_path,
        process=process,
    )


@pytest.fixture(scope="session")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatServer]:
    server = launch_chat_server(tmp_path_factory.mktemp("chat-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chat_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[], ChatServer]]:
    """Starts dedicated servers (fresh port and data) for tests that must not share one: a test
    that reads exact metric deltas, or one that kills and restarts the process. All stopped at
    teardown."""
    servers: list[ChatServer] = []

    def make() -> ChatServer:
        server = launch_chat_server(tmp_path_factory.mktemp("dedicated-server"))
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
def js_client_dir() -> Path:
    """``tests/clients/js`` with its npm dependencies installed (``npm ci`` once if missing)."""
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: the official JS client tests need Node.js >= 18")
    if not (JS_CLIENT_DIR / "node_modules" / "convex" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not on PATH: cannot install tests/clients/js dependencies")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_CLIENT_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"npm ci in {JS_CLIENT_DIR} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
    return JS_CLIENT_DIR
