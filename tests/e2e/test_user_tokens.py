"""User tokens end to end: an app whose ``auth.py`` trusts an external OpenID Connect issuer (a
real local one, with real keys) and the built-in accounts. Tokens from either sign a client in
over the sync socket, ``/api/*`` and the app's HTTP routes; ``ctx.auth.get_user_identity()``
gives the verified user; a bad token is refused with its reason while the socket's other
subscriptions keep working; an identity ends when its token expires unless the client sent a
fresh one; re-authenticating keeps every subscription. Real server processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.sync_wire import SyncSocket
from tests.support.oidc_issuer import OidcIssuer
from tests.support.server import LivebaseServer
from tests.support.signed_in import serve_signed_in_app

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ADMIN = "lb_admin_user_tokens_key_0123456789"
PASSWORD = "correct horse battery staple"

APP = {
    "auth.py": """
        from livebase import builtin, oidc

        providers = [oidc("ISSUER", "livebase-test"), builtin()]
    """,
    "who.py": """
        from livebase import query


        @query
        def me(ctx):
            who = ctx.auth.get_user_identity()
            if who is None:
                return None
            return {"id": who.token_identifier, "email": who.email, "team": who.get("team")}


        @query
        def public(ctx) -> str:
            return "for everyone"
    """,
    "http.py": """
        from starlette.responses import JSONResponse

        from livebase import HttpRouter

        http = HttpRouter()


        @http.route(path="/whoami", method="GET")
        async def whoami(ctx, request):
            try:
                who = ctx.auth.get_user_identity()
            except Exception as exc:
                return JSONResponse({"refused": str(exc)}, status_code=401)
            return JSONResponse({"id": None if who is None else who.token_identifier})


        @http.route(path="/mine", method="GET")
        async def mine(ctx, request):  # lets a refused token's error out
            who = ctx.auth.get_user_identity()
            return JSONResponse({"signed_in": who is not None})


        @http.route(path="/open", method="GET")
        async def open_route(ctx, request):
            return JSONResponse({"ok": True})  # never asks who is calling
    """,
}


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, issuer: OidcIssuer
) -> Iterator[LivebaseServer]:
    with serve_signed_in_app(
        tmp_path_factory.mktemp("tokens"), APP, issuer,
        admin_key=ADMIN, email="ann@example.com", password=PASSWORD,
    ) as s:  # fmt: skip
        yield s


def query(server: LivebaseServer, path: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    body = {"path": path, "args": {}, "format": "json"}
    return httpx.post(f"{server.url}/api/query", json=body, headers=headers, timeout=30)


def sign_in(server: LivebaseServer) -> dict[str, Any]:
    form = {"grant_type": "password", "username": "ann@example.com", "password": PASSWORD}
    response = httpx.post(f"{server.url}/auth/token", data=form, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_tokens_from_both_providers_sign_in_over_http(
    server: LivebaseServer, issuer: OidcIssuer
) -> None:
    token = issuer.token(now=time.time(), sub="u-1", email="u1@example.com", team="blue")
    got = query(server, "who:me", token).json()
    assert got["value"] == {"id": f"{issuer.url}|u-1", "email": "u1@example.com", "team": "blue"}

    built_in = sign_in(server)["access_token"]
    me = query(server, "who:me", built_in).json()["value"]
    assert me["email"] == "ann@example.com" and me["id"].endswith("|" + me["id"].split("|")[1])
    assert query(server, "who:me", None).json()["value"] is None

    expired = issuer.token(now=time.time() - 7200, sub="u-1")
    refused = query(server, "who:me", expired)
    assert refused.status_code == 401
    assert refused.json()["code"] == "Unauthenticated" and refused.json()["reason"] == "expired"
    assert expired.split(".")[1] not in refused.text
    foreign = issuer.token(now=time.time(), sub="u-1", aud="someone-else")
    assert query(server, "who:me", foreign).json()["reason"] == "wrong_audience"


def test_http_routes_see_the_user_and_refuse_only_when_they_ask(
    server: LivebaseServer, issuer: OidcIssuer
) -> None:
    token = issuer.token(now=time.time(), sub="u-2")
    auth = {"authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/whoami", headers=auth).json() == {"id": f"{issuer.url}|u-2"}
    assert httpx.get(f"{server.url}/whoami").json() == {"id": None}
    bad = {"authorization": "Bearer an-ingest-key-of-the-app"}
    refused = httpx.get(f"{server.url}/whoami", headers=bad)
    assert refused.status_code == 401 and "3 of a signed JWT" in refused.json()["refused"]
    assert httpx.get(f"{server.url}/open", headers=bad).json() == {"ok": True}
    # A handler that lets the refusal out answers 401 with the reason, as /api/* does (not 500).
    let_out = httpx.get(f"{server.url}/mine", headers=bad)
    assert let_out.status_code == 401, let_out.text
    assert let_out.json()["code"] == "Unauthenticated" and let_out.json()["reason"] == "malformed"
    assert httpx.get(f"{server.url}/mine", headers=auth).json() == {"signed_in": True}


async def _authenticate(sock: SyncSocket, base: int, token: str) -> None:
    await sock.send(
        {"type": "Authenticate", "baseVersion": base, "tokenType": "User", "value": token}
    )


def test_a_socket_signs_in_refreshes_and_keeps_its_subscriptions(
    server: LivebaseServer, issuer: OidcIssuer
) -> None:
    """Messages sent right after Authenticate already run as the new user; a fresh token on
    the same socket keeps the subscriptions; a token that then expires ends the identity with
    AuthError (authUpdateAttempted false)."""

    async def run() -> None:
        sock = await SyncSocket.open(server.ws_url)
        try:
            await _authenticate(sock, 0, issuer.token(now=time.time(), sub="u-3"))
            await sock.modify([(0, "who:me", {}), (1, "who:public", {})])
            await sock.wait_for(lambda m: 0 in sock.results, what="who:me")
            assert sock.results[0]["id"] == f"{issuer.url}|u-3"
            assert sock.version["identity"] == 1

            short = issuer.token(now=time.time(), sub="u-3", ttl=2)
            await _authenticate(sock, 1, short)
            await sock.wait_for(
                lambda m: m["type"] == "Transition" and m["endVersion"]["identity"] == 2,
                what="the identity-bumping Transition",
            )
            assert sock.results[0]["id"] == f"{issuer.url}|u-3"
            assert sock.results[1] == "for everyone"
            expired = await sock.wait_for(
                lambda m: m["type"] == "AuthError", timeout=15, what="the token's expiry"
            )
            assert expired["authUpdateAttempted"] is False and expired["baseVersion"] == 1
            assert "expired" in expired["error"]
            assert sock.chain_errors == []
        finally:
            await sock.close()

    asyncio.run(run())


def test_a_refused_token_names_its_reason_and_never_runs_what_followed(
    server: LivebaseServer, issuer: OidcIssuer
) -> None:
    async def run() -> None:
        sock = await SyncSocket.open(server.ws_url)
        try:
            wrong = issuer.token(now=time.time(), sub="u-4", iss="https://elsewhere.test")
            await _authenticate(sock, 0, wrong)
            await sock.modify([(0, "who:me", {})])
            error = await sock.wait_for(lambda m: m["type"] == "AuthError", what="AuthError")
            assert error["authUpdateAttempted"] is True and error["baseVersion"] == 0
            assert "elsewhere.test" in error["error"] and wrong not in error["error"]
            closed = await sock.wait_closed(timeout=10)
            assert closed is not None
            assert 0 not in sock.results  # the query sent after the token never ran
        finally:
            await sock.close()

    asyncio.run(run())
