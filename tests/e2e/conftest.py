"""Fixtures that run a real ``livebase serve`` process on the chat example, and the JS client."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAT_APP = REPO_ROOT / "examples" / "chat"
JS_CLIENT_DIR = REPO_ROOT / "tests" / "clients" / "js"

TEST_ADMIN_KEY = "livebase-e2e-admin-key-0123456789abcdef"
STARTUP_TIMEOUT = 20.0


@dataclass
class ChatServer:
    """A running ``livebase serve examples/chat``; ``log_path`` holds its stdout and stderr."""

    url: str
    admin_key: str
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatServer]:
    base = tmp_path_factory.mktemp("chat-server")
    data_dir = base / "data"
    log_path = base / "server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"

    env = dict(os.environ)
    env["LIVEBASE_ADMIN_KEY"] = TEST_ADMIN_KEY
    env["PYTHONUNBUFFERED"] = "1"
    # Run the working tree's package even if it has not been installed into the venv.
    src = str(REPO_ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)

    command = [
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
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last_error = "no attempt made"
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"livebase serve exited with status {process.returncode} before it was "
                    f"ready.\ncommand: {command}\noutput:\n"
                    f"{log_path.read_text(encoding='utf-8', errors='replace')}",
                    pytrace=False,
                )
            try:
                response = httpx.get(f"{url}/version", timeout=1.0)
                if response.status_code == 200:
                    break
                last_error = f"GET /version -> {response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last_error = f"GET /version -> {type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                pytest.fail(
                    f"livebase serve did not answer GET /version within {STARTUP_TIMEOUT:.0f} s "
                    f"(last: {last_error}).\ncommand: {command}\noutput:\n"
                    f"{log_path.read_text(encoding='utf-8', errors='replace')}",
                    pytrace=False,
                )
            time.sleep(0.1)

        yield ChatServer(
            url=url,
            admin_key=TEST_ADMIN_KEY,
            port=port,
            data_dir=data_dir,
            log_path=log_path,
            process=process,
        )
    finally:
        _stop(process)


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
