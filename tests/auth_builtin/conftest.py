"""Fixtures for the built-in issuer: a ``BuiltinIssuer`` on a real SQLite file with a fake clock
(unit tests), and a real ``livebase serve`` of an app whose ``auth.py`` declares it (e2e).

Unit tests hash with cheap argon2 parameters; the server uses the real ones.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from argon2 import PasswordHasher
from joserfc import jwt
from joserfc.jwk import KeySet

from livebase.auth.builtin import BuiltinIssuer
from livebase.auth.builtin.passwords import Passwords
from livebase.config import Settings
from livebase.runtime import FakeRuntime
from livebase.storage import Storage, open_storage
from tests.support.apps import write_app
from tests.support.server import LivebaseServer, base_env

T = TypeVar("T")

PASSWORD = "correct horse battery"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine on a fresh event loop (the suite needs no async plugin)."""
    return asyncio.run(coro)


@pytest.fixture
def clock() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = open_storage(tmp_path / "data.sqlite3")
    try:
        yield store
    finally:
        store.close()


@dataclass
class IssuerFactory:
    tmp_path: Path
    storage: Storage
    clock: FakeRuntime

    def __call__(self, **settings: Any) -> BuiltinIssuer:
        issuer = BuiltinIssuer(
            self.tmp_path / "data",
            self.storage,
            settings=Settings(**settings),
            runtime=self.clock,
            passwords=Passwords(CHEAP),
        )
        issuer.listening("127.0.0.1", 3999)
        return issuer


@pytest.fixture
def make_issuer(tmp_path: Path, storage: Storage, clock: FakeRuntime) -> IssuerFactory:
    """Builds issuers on one data folder and database (a second one is the same deployment
    after a restart)."""
    return IssuerFactory(tmp_path, storage, clock)


@pytest.fixture
def issuer(make_issuer: IssuerFactory) -> BuiltinIssuer:
    return make_issuer()


def verify(token: str, jwks: dict[str, Any], now: int) -> dict[str, Any]:
    """The claims of ``token`` if its signature holds against ``jwks`` and it is valid at
    ``now`` (joserfc, as an independent verifier would)."""
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    registry = jwt.JWTClaimsRegistry(now=now, leeway=0, exp={"essential": True})
    registry.validate(decoded.claims)
    return {**decoded.claims, "kid": decoded.header["kid"]}


# -- a real server ------------------------------------------------------------------------------

AUTH_APP: dict[str, str] = {
    "auth.py": """
        providers = [{"type": "builtin", "application_id": "notes-app"}]
    """,
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({"notes": define_table({"body": v.string()})})
    """,
    "peek.py": """
        from livebase import mutation, query


        def attempt(read):
            try:
                return read()
            except Exception as exc:
                return f"refused: {type(exc).__name__}"


        @query
        def auth_tables(ctx) -> list:
            found = []
            for table in ("_auth_accounts", "_auth_refresh_tokens"):
                found.append(attempt(lambda: ctx.db.query(table).collect()))
                found.append(attempt(lambda: ctx.db.system.query(table).collect()))
            return found


        @mutation
        def write_account(ctx) -> str:
            return attempt(lambda: ctx.db.insert("_auth_accounts", {"email": "x@example.com"}))
    """,
}

NO_AUTH_APP: dict[str, str] = {
    "notes.py": """
        from livebase import query


        @query
        def ping(ctx) -> str:
            return "pong"
    """,
}

SERVER_SETTINGS = {
    "LIVEBASE_AUTH_ACCOUNT_FAILURES": "3",
    "LIVEBASE_AUTH_ADDRESS_FAILURES": "5",
    "LIVEBASE_AUTH_CLIENT_IP_HEADER": "x-forwarded-for",
}


class AuthServer(LivebaseServer):
    """``livebase serve`` of ``AUTH_APP``, its admin key kept in its data folder."""

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    def cli(
        self, *args: str, stdin: str = "", key: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``livebase ARGS --url URL [--data DIR]`` (the admin key found in the data folder)."""
        extra = ["--url", self.url] + (["--data", str(self.data_dir)] if key else [])
        return subprocess.run(
            [sys.executable, "-m", "livebase", *args, *extra],
            input=stdin,
            env=base_env(),
            cwd=self.data_dir.parent,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def launch(base: Path, files: dict[str, str], **env: str) -> AuthServer:
    app = write_app(base / "app", files)
    return AuthServer.launch(base, app=app, env=base_env(**env), durability="normal")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    with launch(tmp_path_factory.mktemp("auth-server"), AUTH_APP, **SERVER_SETTINGS) as s:
        yield s


@pytest.fixture
def http(server: AuthServer) -> Iterator[httpx.Client]:
    with server.http() as client:
        yield client


@pytest.fixture
def email(server: AuthServer) -> str:
    """A fresh account on the server."""
    address = f"user-{uuid.uuid4().hex[:10]}@example.com"
    done = server.cli("users", "add", address, "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return address
