"""Fixtures that run the ``livebase`` command line as real processes.

``livebase_cli(*args)`` runs a short command to completion; ``servers.start(...)`` starts
``livebase serve|dev`` in the background on a free port and waits for it to answer
``GET /version``. Every started process is stopped at teardown.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.apps import write_app
from tests.support.server import LivebaseServer, base_env, free_port

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


class Server(LivebaseServer):
    """A ``livebase serve|dev`` process; it keeps (or makes) the admin key in its data folder."""

    def output(self) -> str:
        return self.log_text()

    def wait_for_output(self, needle: str, timeout: float = 30.0, start: int = 0) -> bool:
        """True once ``needle`` appears in the output after character ``start``."""
        return self.wait_for_log(needle, timeout, start)

    def admin_key(self) -> str:  # type: ignore[override]
        """The key from the ``Admin key:`` line of the output."""
        return self.logged_admin_key()


@dataclass
class Servers:
    base: Path
    started: list[Server] = field(default_factory=list)

    def start(
        self, command: str, app_dir: Path, data_dir: Path, *, env: dict[str, str] | None = None
    ) -> Server:
        """Start ``livebase COMMAND APP_DIR`` and wait until ``GET /version`` answers 200."""
        port = free_port()
        server = Server(
            app_dir,
            data=data_dir,
            port=port,
            log_path=self.base / f"server-{len(self.started)}-{port}.log",
            env=env or base_env(),
            durability="normal",
            command=command,
            cwd=self.base,
        )
        self.started.append(server)
        return server.start()

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
