"""Fixtures for the agentfeed app: a real ``livebase serve apps/agentfeed`` process with an API
key and an owner account (``Agentfeed``: post payloads, call functions as the admin acting as the
signed-in owner, or as the public), and the app's pure modules loaded the way Livebase loads
them."""

from __future__ import annotations

import functools
import importlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from livebase.functions.loader import load_app, unload
from tests.support.calls import call
from tests.support.postgres import fresh_database_url
from tests.support.server import REPO_ROOT, LivebaseServer, base_env
from tests.support.signed_in import add_account, password_sign_in

APP = REPO_ROOT / "apps" / "agentfeed"
KEY = "agentfeed-test-key-0123456789"
OWNER_EMAIL = "owner@agentfeed.test"
OWNER_PASSWORD = "owner password 0123456789"
OWNER = {"subject": "agentfeed-test-owner", "issuer": "http://agentfeed.test", "email": OWNER_EMAIL}
"""The identity the tests' admin calls act as to be the owner (any signed-in caller is)."""


def add_owner(
    server: LivebaseServer, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD
) -> None:
    """Make a built-in account on ``server`` (what ``agentfeed owner EMAIL`` does)."""
    add_account(server.url, server.admin_key, email, password)


def sign_in(url: str, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD) -> str:
    """An access token for the account (``POST /auth/token``, password grant)."""
    return password_sign_in(url, email, password)


@functools.cache
def public_functions() -> frozenset[str]:
    """The paths of the app's public functions (what anyone may call)."""
    app = load_app(APP)
    try:
        return frozenset(path for path, fd in app.functions.items() if not fd.internal)
    finally:
        unload(app)


@dataclass
class Agentfeed:
    server: LivebaseServer
    key: str | None = KEY
    owner: bool = True
    """Whether public functions are called as the owner (else as the public)."""

    def post(
        self,
        body: Any = None,
        *,
        path: str = "/event",
        content: bytes | None = None,
        key: str | None = None,
        expect: int | None = 200,
    ) -> dict[str, Any]:
        """POST a JSON body (or raw ``content``) with the key; the JSON answer, after checking
        the status."""
        headers = {}
        sent_key = key if key is not None else self.key
        if sent_key is not None:
            headers["X-Agentfeed-Key"] = sent_key
        response = httpx.post(
            f"{self.server.url}{path}",
            json=body if content is None else None,
            content=content,
            headers=headers,
            timeout=60,
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        result: dict[str, Any] = response.json()
        return result

    def _call(self, kind: str, path: str, args: dict[str, Any] | None) -> Any:
        identity = OWNER if self.owner else None
        url, admin_key = self.server.url, self.server.admin_key
        return call(url, admin_key, kind, path, args or {}, identity=identity)

    def query(self, path: str, args: dict[str, Any] | None = None) -> Any:
        """As the admin acting as the owner (or as nobody: the public view)."""
        return self._call("query", path, args)

    def mutation(self, path: str, args: dict[str, Any] | None = None) -> Any:
        return self._call("mutation", path, args)

    def event(self, event_id: str) -> dict[str, Any]:
        found = self.query("events:get", {"event_id": event_id})
        assert found is not None, f"no event {event_id}"
        result: dict[str, Any] = found
        return result

    def session(self, session_id: str) -> dict[str, Any]:
        found = self.query("sessions:session", {"session_id": session_id})
        assert found is not None, f"no session {session_id}"
        result: dict[str, Any] = found
        return result

    def timeline(self, session_id: str) -> list[dict[str, Any]]:
        """Every event of a session, oldest first (all pages)."""
        events: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.query(
                "events:session_timeline",
                {"session_id": session_id, "paginationOpts": {"numItems": 50, "cursor": cursor}},
            )
            events += page["page"]
            if page["isDone"]:
                return events
            cursor = page["continueCursor"]


def launch(
    base: Path,
    key: str | None = KEY,
    command: str = "serve",
    db: str | None = None,
    **extra_env: str,
) -> LivebaseServer:
    """``livebase serve apps/agentfeed`` (or ``command``) with ``AGENTFEED_KEY=key`` (None:
    unset) and ``extra_env``; its agentfeed home (the server key) under ``base``; on the
    database ``db`` (a ``postgresql://`` URL) if given, else SQLite in ``base``."""
    env = base_env(**{"AGENTFEED_HOME": str(base / "agentfeed-home"), **extra_env})
    env.pop("AGENTFEED_KEY", None)
    if key is not None:
        env["AGENTFEED_KEY"] = key
    return LivebaseServer.launch(base, app=APP, env=env, command=command, db=db)


@contextmanager
def on_backend(base: Path, backend: str) -> Iterator[Agentfeed]:
    """An agentfeed server (``launch``) on ``backend``: ``sqlite``, or ``postgres`` (a fresh
    schema of the test PostgreSQL server, dropped afterwards)."""
    if backend == "sqlite":
        with launch(base) as server:
            yield Agentfeed(server)
        return
    with fresh_database_url("agentfeed") as db, launch(base, db=db) as server:
        yield Agentfeed(server)


def launch_variant(base: Path, testonly: str, without_cron: str) -> LivebaseServer:
    """``livebase serve`` of a copy of the app (under ``base``) with a test-only module
    ``testonly.py`` (its source given) and without the cron line ``without_cron``, so that a
    test can put the data in a state the cron would repair while it looks."""
    app = base / "agentfeed"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "static"))
    (app / "testonly.py").write_text(testonly)
    crons = (app / "crons.py").read_text()
    assert without_cron in crons, f"crons.py has no line {without_cron!r}"
    (app / "crons.py").write_text(crons.replace(without_cron, ""))
    env = base_env(AGENTFEED_HOME=str(base / "home"), AGENTFEED_KEY=KEY)
    return LivebaseServer.launch(base, app=app, env=env, command="serve")


@pytest.fixture(scope="module")
def agentfeed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agentfeed]:
    """One server per test module, with ``AGENTFEED_KEY`` set; tests keep apart by using their
    own session ids and project paths."""
    with launch(tmp_path_factory.mktemp("agentfeed")) as server:
        yield Agentfeed(server)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def agentfeed_both(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Agentfeed]:
    """One server per test module and backend: the module's tests run on SQLite, then again
    on PostgreSQL."""
    with on_backend(tmp_path_factory.mktemp(f"agentfeed-{request.param}"), request.param) as feed:
        yield feed


@pytest.fixture(scope="module")
def app_modules() -> Iterator[dict[str, ModuleType]]:
    """``normalize`` and ``payload`` as imported from the app folder by Livebase's loader."""
    app = load_app(APP)
    try:
        yield {
            name: importlib.import_module(f"{app.package}.{name}")
            for name in ("normalize", "payload")
        }
    finally:
        unload(app)
