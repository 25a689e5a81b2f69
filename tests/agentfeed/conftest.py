"""Fixtures for the agentfeed tests: a real HTTP server that records events, and the hook run as
a real process.

``event_server`` is a ``http.server`` on 127.0.0.1 in a thread; it records every request (path,
headers, parsed JSON body) and answers 200, or ``status``/``delay`` as a test sets them (invalid
JSON always gets 400, as the real server does). ``hook`` runs ``python -S src/agentfeed/hook.py``
with a payload on stdin in an environment of its own: ``HOME`` and ``AGENTFEED_HOME`` inside the
test's temporary folder, so nothing outside it is read or written.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import REPO_ROOT, free_port

HOOK = REPO_ROOT / "src" / "agentfeed" / "hook.py"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes


class EventServer:
    """A small HTTP server that records POSTs; ``start()`` can reuse a port (``port=``)."""

    def __init__(self, port: int | None = None, tls: tuple[Path, Path] | None = None) -> None:
        self.port = port or free_port()
        self.tls = tls  # (certificate, key) files: serve https
        self.status = 200
        self.delay = 0.0
        self.arrivals = 0  # requests that reached the handler, answered or not
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.body for r in self.received]

    def start(self) -> EventServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                with server._lock:
                    server.arrivals += 1
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    body = json.loads(raw)
                    status = server.status if isinstance(body, dict) else 400
                except ValueError:
                    body, status = {}, 400
                if server.delay:
                    server._stop.wait(server.delay)
                if 200 <= status < 300:
                    with server._lock:
                        server.received.append(
                            Received(self.path, dict(self.headers.items()), body, raw)
                        )
                payload = b'{"ok":true}' if status < 300 else b'{"error":"no"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        httpd.daemon_threads = True
        httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


@pytest.fixture
def event_server() -> Iterator[EventServer]:
    server = EventServer().start()
    yield server
    server.stop()


@dataclass
class HookResult:
    returncode: int
    stdout: bytes
    stderr: str
    seconds: float


@dataclass
class HookEnv:
    """Runs the hook as a child process with its home in a temporary folder."""

    tmp: Path
    url: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.tmp / "agentfeed-home"

    @property
    def spool(self) -> Path:
        return self.home / "spool.jsonl"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTFEED_", "PYTHON"))}
        env.update(HOME=str(self.tmp), AGENTFEED_HOME=str(self.home), AGENTFEED_URL=self.url)
        env.update(self.extra)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-S", str(HOOK), *args]

    def run(self, payload: bytes | dict[str, Any], *, timeout: float = 30.0) -> HookResult:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        start = time.monotonic()
        proc = subprocess.run(
            self.command(), input=data, capture_output=True, env=self.env(), timeout=timeout
        )
        return HookResult(
            proc.returncode, proc.stdout, proc.stderr.decode(), time.monotonic() - start
        )

    def spooled(self) -> list[dict[str, Any]]:
        if not self.spool.exists():
            return []
        return [json.loads(line) for line in self.spool.read_bytes().splitlines()]


@pytest.fixture
def hook_env(tmp_path: Path, event_server: EventServer) -> HookEnv:
    return HookEnv(tmp_path, event_server.url)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def post_tool_use(n: int = 0) -> dict[str, Any]:
    """A typical PostToolUse payload (as in the Claude Code docs), tagged with ``seq``."""
    return {
        "session_id": "8f0c2a9e-6a8e-4c1b-9a53-2f3c5d9e0b11",
        "transcript_path": "/home/u/.claude/projects/-home-u-app/8f0c2a9e.jsonl",
        "cwd": "/home/u/app",
        "permission_mode": "default",
        "hook_event_name": "PostToolUse",
        "prompt_id": "550e8400-e29b-41d4-a716-446655440000",
        "tool_name": "Bash",
        "tool_input": {"command": "pytest -q", "description": "Run tests", "timeout": 120000},
        "tool_response": {"stdout": "42 passed in 1.2s\n", "stderr": "", "interrupted": False},
        "tool_use_id": "toolu_01ABC",
        "duration_ms": 1234,
        "seq": n,
    }
