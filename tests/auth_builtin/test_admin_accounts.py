"""Admin accounts over real HTTP and a real sync socket: only the admin key grants the role
(``livebase users grant-admin``), an admin account's email and password open a dashboard
session that stands in for the admin key, a plain account is refused with a clear message, and
revoking the role ends the session at once, on HTTP and on an open socket."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.e2e.sync_wire import SyncSocket

from .conftest import PASSWORD, AuthServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SESSION = "/api/admin/dashboard/session"
FUNCTIONS = "_system/dashboard:functions"


def open_session(http: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return http.post(SESSION, json={"email": email, "password": password})


def as_admin(http: httpx.Client, token: str) -> httpx.Response:
    """An internal (admin-only) function called with ``token`` where the admin key goes."""
    body = {"path": FUNCTIONS, "args": {}, "format": "json"}
    return http.post("/api/query", json=body, headers={"authorization": f"Convex {token}"})


def test_a_plain_account_is_refused_with_what_to_do(http: httpx.Client, email: str) -> None:
    answer = open_session(http, email)
    assert answer.status_code == 403
    assert answer.json()["code"] == "NotAnAdmin"
    assert f"livebase users grant-admin {email}" in answer.json()["message"]
    wrong = open_session(http, email, "not the password")
    assert wrong.status_code == 401 and wrong.json()["code"] == "InvalidCredentials"
    bad = http.post(SESSION, json={"email": email})
    assert bad.status_code == 400 and "password" in bad.json()["message"]


def test_an_admin_account_has_the_admin_rights_until_revoked(
    server: AuthServer, http: httpx.Client, email: str
) -> None:
    granted = server.cli("users", "grant-admin", email)
    assert granted.returncode == 0, granted.stderr
    assert "is an admin" in granted.stdout
    listed = server.cli("users", "list", "--json")
    assert any(u["email"] == email and u["admin"] for u in json.loads(listed.stdout))

    opened = open_session(http, email)
    assert opened.status_code == 200, opened.text
    token = opened.json()["token"]
    assert token.startswith("lb_dash_") and opened.json()["email"] == email
    assert as_admin(http, token).json()["status"] == "success"
    users = http.get("/api/admin/users", headers={"authorization": f"Convex {token}"})
    assert users.status_code == 200 and any(u["email"] == email for u in users.json()["users"])
    # The role itself is the admin key's to give: a session does not stand in for it there.
    grant = http.post(
        "/api/admin/users/grant-admin",
        json={"email": email},
        headers={"authorization": f"Convex {token}"},
    )
    assert grant.status_code == 401

    revoked = server.cli("users", "revoke-admin", email)
    assert revoked.returncode == 0, revoked.stderr
    refused = as_admin(http, token)
    assert refused.status_code in (401, 403), refused.text
    assert open_session(http, email).status_code == 403


def test_revoking_closes_an_open_socket_at_once(
    server: AuthServer, http: httpx.Client, email: str
) -> None:
    assert server.cli("users", "grant-admin", email).returncode == 0
    token = open_session(http, email).json()["token"]

    async def scenario() -> None:
        sock = await SyncSocket.open(server.ws_url)
        await sock.send(
            {"type": "Authenticate", "tokenType": "Admin", "value": token, "baseVersion": 0}
        )
        version = await sock.modify([(0, FUNCTIONS, {})])
        await sock.wait_query_set(version)
        assert 0 in sock.results, sock.failures
        done = await asyncio.to_thread(server.cli, "users", "revoke-admin", email)
        assert done.returncode == 0, done.stderr
        closed = await sock.wait_closed(timeout=10)
        errors = [m for m in sock.messages if m["type"] == "AuthError"]
        assert errors and "AdminRevoked" in errors[0]["error"]
        assert closed is not None and closed.reason == "AuthError"

    asyncio.run(scenario())


def test_signing_out_ends_the_session(server: AuthServer, http: httpx.Client, email: str) -> None:
    assert server.cli("users", "grant-admin", email).returncode == 0
    token = open_session(http, email).json()["token"]
    assert as_admin(http, token).json()["status"] == "success"
    out = http.delete(SESSION, headers={"authorization": f"Convex {token}"})
    assert out.status_code == 200
    assert as_admin(http, token).status_code in (401, 403)
