"""Fixtures that run a real ``livebase serve`` process on the chat example, and the JS client."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.postgres import fresh_database_url
from tests.support.server import REPO_ROOT, LivebaseServer

JS_CLIENT_DIR = REPO_ROOT / "tests" / "clients" / "js"
PY_CLIENT_DIR = REPO_ROOT / "tests" / "clients" / "py"

TEST_ADMIN_KEY = "livebase-e2e-admin-key-0123456789abcdef"

# A running ``livebase serve examples/chat``; ``kill9`` and ``restart`` let a test crash the
# process and start a new one on the same port and data folder (every run's output is appended
# to ``log_path``).
ChatServer = LivebaseServer


def launch_chat_server(base: Path, db: str | None = None) -> ChatServer:
    """Start ``livebase serve examples/chat`` on a free port with its data under ``base``
    (and its database at ``db``, if given)."""
    return ChatServer.launch(base, admin_key=TEST_ADMIN_KEY, db=db)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend_db(request: pytest.FixtureRequest) -> Iterator[Callable[[], str | None]]:
    """Every test of a chat server runs on both backends: this gives each server its database
    (None: SQLite in its data folder; else a fresh PostgreSQL schema)."""
    with ExitStack() as stack:

        def make() -> str | None:
            if request.param == "sqlite":
                return None
            return stack.enter_context(fresh_database_url("chat"))

        yield make


@pytest.fixture(scope="session")
def chat_server(
    tmp_path_factory: pytest.TempPathFactory, backend_db: Callable[[], str | None]
) -> Iterator[ChatServer]:
    with launch_chat_server(tmp_path_factory.mktemp("chat-server"), backend_db()) as server:
        yield server


@pytest.fixture
def chat_server_factory(
    tmp_path_factory: pytest.TempPathFactory, backend_db: Callable[[], str | None]
) -> Iterator[Callable[[], ChatServer]]:
    """Starts dedicated servers (fresh port and data) for tests that must not share one: a test
    that reads exact metric deltas, or one that kills and restarts the process. All stopped at
    teardown."""
    servers: list[ChatServer] = []

    def make() -> ChatServer:
        server = launch_chat_server(tmp_path_factory.mktemp("dedicated-server"), backend_db())
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
