"""Fixtures that run the ``livebase`` command line as real processes.

``livebase_cli(*args)`` runs a short command to completion; ``servers.start(...)`` starts
``livebase serve|dev`` in the background on a free port and waits for it to answer
``GET /version``. Every started process is stopped at teardown.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT = 20.0

CHAT_APP: dict[str, str] = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema(
            {
                "messages": define_table({"channel": v.string(), "body": v.string()}).index(
                    "by_channel", ["channel"]
                ),
            }
        )
    """,
    "messages.py": """
        from livebase import AppError, mutation, query, v


        @mutation(args={"channel": v.string(), "body": v.string()})
        def send(ctx, channel, body):
            if not body.strip():
                raise AppError({"code": "EmptyMessage", "channel": channel})
            return ctx.db.insert("messages", {"channel": channel, "body": body})


        @query
        def list(ctx, channel: str) -> list:
            q = ctx.db.query("messages").with_index(
                "by_channel", lambda q: q.eq("channel", channel)
            )
            return q.collect()


        @query
        def boom(ctx):
            raise ValueError("hidden detail 0xfeed")
    """,
    "admin/users.py": """
        from livebase import internal_query


        @internal_query
        def total(ctx) -> int:
            return len(ctx.db.query("messages").collect())
    """,
}


def write_app(root: Path, files: Mapping[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    """The test process environment without any LIVEBASE_* settings, plus ``extra``."""
    env = {k: val for k, val in os.environ.items() if not k.startswith("LIVEBASE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def livebase_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livebase", *args],
        cwd=cwd,
        env=env or base_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Server:
    url: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_output(self, needle: str, timeout: float = 10.0, start: int = 0) -> bool:
        """True once ``needle`` appears in the output after character ``start``."""
        deadline = time.monotonic() + timeout
        while True:
            if needle in self.output()[start:]:
                return True
            if time.monotonic() >= deadline or self.process.poll() is not None:
                return needle in self.output()[start:]
            time.sleep(0.05)

    def admin_key(self) -> str:
        for line in self.output().splitlines():
            if line.startswith("Admin key:"):
                return line.split(":", 1)[1].strip()
        raise AssertionError(f"no 'Admin key:' line in output:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Servers:
    base: Path
    started: list[Server] = field(default_factory=list)

    def spawn(
        self, command: str, app_dir: Path, data_dir: Path, *, env: dict[str, str] | None = None
    ) -> Server:
        """Start ``livebase COMMAND APP_DIR`` without waiting for it."""
        port = free_port()
        log_path = self.base / f"server-{len(self.started)}-{port}.log"
        args = [
            sys.executable, "-m", "livebase", command, str(app_dir),
            "--port", str(port), "--host", "127.0.0.1", "--data", str(data_dir),
            "--durability", "normal",
        ]  # fmt: skip
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                args,
                cwd=self.base,
                env=env or base_env(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        server = Server(f"http://127.0.0.1:{port}", port, log_path, process)
        self.started.append(server)
        return server

    def start(
        self, command: str, app_dir: Path, data_dir: Path, *, env: dict[str, str] | None = None
    ) -> Server:
        """Start ``livebase COMMAND APP_DIR`` and wait until ``GET /version`` answers 200."""
        server = self.spawn(command, app_dir, data_dir, env=env)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last = "no attempt"
        while True:
            if server.process.poll() is not None:
                pytest.fail(
                    f"livebase {command} exited with {server.process.returncode} before it was "
                    f"ready; output:\n{server.output()}",
                    pytrace=False,
                )
            try:
                r = httpx.get(f"{server.url}/version", timeout=1.0)
                if r.status_code == 200:
                    return server
                last = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                pytest.fail(
                    f"livebase {command} not ready after {STARTUP_TIMEOUT} s ({last}); "
                    f"output:\n{server.output()}",
                    pytrace=False,
                )
            time.sleep(0.05)

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    s = Servers(tmp_path)
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """One ``livebase serve`` of the chat app for the ``livebase run`` tests, and its data dir."""
    base = tmp_path_factory.mktemp("chat")
    s = Servers(base)
    try:
        app = write_app(base / "chat", CHAT_APP)
        data = base / "data"
        yield s.start("serve", app, data), data
    finally:
        s.stop_all()


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    """A working directory with no ``.livebase`` folders in or under it."""
    d = tmp_path / "cwd"
    d.mkdir()
    return d
