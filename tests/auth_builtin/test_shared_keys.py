"""Several nodes on one database share one signing key set, kept in the database: a token
signed on one node verifies on every other, a rotation on one reaches the others within about a
second, two nodes starting together agree on one set, and a key file of a deployment moved to a
shared database is taken over. Real SQLite files and the real PostgreSQL server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livebase.auth.builtin.key_stores import KEYS_FILE, DatabaseKeyStore, FileKeyStore
from livebase.auth.builtin.signing_keys import SigningKeys
from livebase.storage import open_storage
from livebase.storage.base import Storage
from tests.support.apps import write_app
from tests.support.postgres import fresh_database_url
from tests.support.server import base_env

from .conftest import AUTH_APP, PASSWORD, AuthServer, verify

NOW = 1_700_000_000
TTL = 900


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "sqlite":
        storage = open_storage(tmp_path / "shared.sqlite3", "normal")
        yield storage
        storage.close()
    else:
        with fresh_database_url("keys") as url:
            storage = open_storage(url, "normal")
            yield storage
            storage.close()


def node(storage: Storage, now: int, seed: Path | None = None) -> SigningKeys:
    store = DatabaseKeyStore(storage, seed=None if seed is None else FileKeyStore(seed))
    return SigningKeys.open_in(store, token_seconds=TTL, now=now)


def test_nodes_on_one_database_share_one_key_set(database: Storage) -> None:
    a, b = node(database, NOW), node(database, NOW)
    assert a.current.kid == b.current.kid
    token = a.sign({"sub": "u", "iat": NOW, "exp": NOW + TTL})
    assert verify(token, b.public_jwks(NOW), NOW)["sub"] == "u"


def test_a_rotation_on_one_node_reaches_the_others_within_a_second(database: Storage) -> None:
    a, b = node(database, NOW), node(database, NOW)
    old = a.current.kid
    new = a.rotate(NOW + 10)
    token = a.sign({"sub": "u", "iat": NOW + 10, "exp": NOW + 10 + TTL})
    # b reads the set again once RELOAD_SECONDS have passed since it last did.
    later = NOW + 10 + SigningKeys.RELOAD_SECONDS
    assert {k["kid"] for k in b.public_jwks(later)["keys"]} == {old, new.kid}
    assert verify(token, b.public_jwks(later), later)["kid"] == new.kid
    signed_on_b = b.sign({"sub": "v", "iat": later, "exp": later + TTL})
    assert verify(signed_on_b, a.public_jwks(later), later)["kid"] == new.kid
    # A rotation on b after it builds on a's, it does not undo it.
    newest = b.rotate(later + 5)
    kids = {k["kid"] for k in a.public_jwks(later + 5 + SigningKeys.RELOAD_SECONDS)["keys"]}
    assert kids == {old, new.kid, newest.kid}


def test_a_key_file_is_taken_over_by_the_database(database: Storage, tmp_path: Path) -> None:
    single = SigningKeys.open(tmp_path / "data", token_seconds=TTL, now=NOW)
    token = single.sign({"sub": "u", "iat": NOW, "exp": NOW + TTL})
    moved = node(database, NOW + 5, seed=tmp_path / "data" / KEYS_FILE)
    assert moved.current.kid == single.current.kid
    assert verify(token, node(database, NOW + 5).public_jwks(NOW + 5), NOW + 5)["sub"] == "u"


def test_a_token_from_one_server_signs_in_on_another_of_the_same_database(tmp_path: Path) -> None:
    """Two ``livebase serve`` nodes on one PostgreSQL database: sign in on one, call the other
    with the token; rotate the keys through one, and the other accepts the new tokens."""
    who = """
        from livebase import query


        @query
        def whoami(ctx) -> str:
            return ctx.auth.get_user_identity().email
    """
    app = write_app(tmp_path / "app", {**AUTH_APP, "notes.py": who})
    admin = "lb_admin_shared_keys_0123456789"
    with fresh_database_url("nodes") as url:
        # Every node names the same issuer: the URL clients reach the deployment at.
        env = base_env(LIVEBASE_AUTH_ISSUER="https://auth.example.test")
        options = {"app": app, "env": env, "db": url, "admin_key": admin}
        with (
            AuthServer.launch(tmp_path / "a", **options) as a,
            AuthServer.launch(tmp_path / "b", **options) as b,
            a.http() as on_a,
            b.http() as on_b,
        ):
            headers = {"authorization": f"Convex {admin}"}
            form = {"email": "nina@example.com", "password": PASSWORD}
            assert on_a.post("/api/admin/users", json=form, headers=headers).status_code == 200

            def token_from(http: Any) -> str:
                grant = {"grant_type": "password", "username": form["email"], "password": PASSWORD}
                return str(http.post("/auth/token", data=grant).json()["access_token"])

            def who_on(http: Any, token: str) -> Any:
                body = {"path": "notes:whoami", "args": {}, "format": "json"}
                auth = {"authorization": f"Bearer {token}"}
                return http.post("/api/query", json=body, headers=auth).json()

            first = who_on(on_b, token_from(on_a))
            assert first.get("value") == "nina@example.com", first
            rotated = on_a.post("/api/admin/auth/rotate-keys", headers=headers)
            assert rotated.status_code == 200, rotated.text
            fresh = token_from(on_a)
            deadline = time.monotonic() + 15
            while (answer := who_on(on_b, fresh)).get("status") != "success":
                assert time.monotonic() < deadline, answer
                time.sleep(0.1)
