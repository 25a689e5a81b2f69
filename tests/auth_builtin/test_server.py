"""The built-in issuer over real HTTP: a ``livebase serve`` process of an app whose ``auth.py``
declares ``{"type": "builtin"}``, spoken to with httpx, its tokens checked with joserfc against
the JWKS found through the discovery document."""

from __future__ import annotations

import base64
import json
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import AUTH_APP, NO_AUTH_APP, PASSWORD, AuthServer, launch, verify

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def sign_in(
    http: httpx.Client, email: str, password: str = PASSWORD, address: str | None = None
) -> httpx.Response:
    form = {"grant_type": "password", "username": email, "password": password}
    headers = {"x-forwarded-for": address or f"192.0.2.{uuid.uuid4().int % 250 + 1}"}
    return http.post("/auth/token", data=form, headers=headers)


def refresh(http: httpx.Client, token: str) -> httpx.Response:
    return http.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": token})


def jwks_of(http: httpx.Client) -> dict[str, Any]:
    """The JWKS, found as any OIDC client finds it: through the discovery document."""
    meta = http.get("/.well-known/openid-configuration").json()
    jwks_uri = meta["jwks_uri"]
    assert jwks_uri.startswith(meta["issuer"])
    return httpx.get(jwks_uri, timeout=10).json()  # type: ignore[no-any-return]


def now() -> int:
    return int(time.time())


def oauth_error(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error, body
    return str(body["error_description"])


def test_discovery_document_names_the_issuer_and_its_endpoints(
    http: httpx.Client, server: AuthServer
) -> None:
    response = http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    meta = response.json()
    issuer = server.url  # no LIVEBASE_AUTH_ISSUER: the server's own listen address
    assert meta["issuer"] == issuer
    assert meta["jwks_uri"] == issuer + "/.well-known/jwks.json"
    assert meta["token_endpoint"] == issuer + "/auth/token"
    assert meta["revocation_endpoint"] == issuer + "/auth/revoke"
    assert meta["id_token_signing_alg_values_supported"] == ["ES256"]
    assert meta["grant_types_supported"] == ["password", "refresh_token"]
    keys = jwks_of(http)["keys"]
    assert keys and all(k["kty"] == "EC" and "d" not in k for k in keys)


def test_sign_in_gives_tokens_that_verify_against_the_published_jwks(
    http: httpx.Client, server: AuthServer, email: str
) -> None:
    response = sign_in(http, email.upper())
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    claims = verify(body["access_token"], jwks_of(http), now())
    assert claims["iss"] == server.url and claims["aud"] == "notes-app"
    assert claims["email"] == email and claims["email_verified"] is False
    assert claims["exp"] - claims["iat"] == 900 and claims["nbf"] == claims["iat"]
    header = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "=="))
    assert header["alg"] == "ES256" and header["kid"] == claims["kid"]


def test_wrong_password_and_unknown_email_get_the_same_answer(
    http: httpx.Client, email: str
) -> None:
    wrong = sign_in(http, email, "not the password")
    unknown = sign_in(http, f"nobody-{uuid.uuid4().hex[:8]}@example.com")
    assert oauth_error(wrong, 400, "invalid_grant") == "invalid email or password"
    assert oauth_error(unknown, 400, "invalid_grant") == "invalid email or password"
    assert wrong.content == unknown.content


def test_refresh_rotates_and_a_reused_token_revokes_the_family(
    http: httpx.Client, server: AuthServer, email: str
) -> None:
    first = sign_in(http, email).json()
    second = refresh(http, first["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert verify(rotated["access_token"], jwks_of(http), now())["email"] == email
    log_start = len(server.log_text())
    reused = refresh(http, first["refresh_token"])
    assert "whole token family is revoked" in oauth_error(reused, 400, "invalid_grant")
    newest = refresh(http, rotated["refresh_token"])
    assert "revoked (it was used twice)" in oauth_error(newest, 400, "invalid_grant")
    assert server.wait_for_log("used twice", start=log_start)
    logged = server.log_text()[log_start:]
    assert first["refresh_token"] not in logged and rotated["refresh_token"] not in logged


def test_revocation_signs_out_and_always_answers_200(http: httpx.Client, email: str) -> None:
    tokens = sign_in(http, email).json()
    for token in (tokens["refresh_token"], tokens["refresh_token"], "nonsense"):
        response = http.post("/auth/revoke", data={"token": token})
        assert response.status_code == 200 and response.json() == {}
    after = refresh(http, tokens["refresh_token"])
    assert "revoked (signed out)" in oauth_error(after, 400, "invalid_grant")
    missing = http.post("/auth/revoke", data={})
    assert oauth_error(missing, 400, "invalid_request") == "token is missing"


def test_a_disabled_account_is_refused_at_sign_in_and_at_refresh(
    http: httpx.Client, server: AuthServer, email: str
) -> None:
    tokens = sign_in(http, email).json()
    done = server.cli("users", "disable", email)
    assert done.returncode == 0, done.stderr
    assert f"disabled {email}" in done.stdout
    refused = sign_in(http, email)
    assert oauth_error(refused, 400, "invalid_grant") == "this account is disabled"
    refused = refresh(http, tokens["refresh_token"])
    assert oauth_error(refused, 400, "invalid_grant") == "this account is disabled"
    assert server.cli("users", "enable", email).returncode == 0
    assert sign_in(http, email).status_code == 200


def test_failed_sign_ins_are_rate_limited(http: httpx.Client, email: str) -> None:
    # This server allows 3 failures per account and 5 per address (SERVER_SETTINGS).
    for _ in range(3):
        oauth_error(sign_in(http, email, "wrong password"), 400, "invalid_grant")
    limited = sign_in(http, email)  # even the right password waits now
    description = oauth_error(limited, 429, "slow_down")
    assert "too many failed sign-ins for this account" in description
    assert 0 < int(limited.headers["retry-after"]) <= 900
    address = "203.0.113.77"
    for n in range(5):
        sign_in(http, f"guess{n}-{uuid.uuid4().hex[:6]}@example.com", address=address)
    other = f"other-{uuid.uuid4().hex[:6]}@example.com"
    limited = sign_in(http, other, address=address)
    assert "for this address" in oauth_error(limited, 429, "slow_down")
    assert int(limited.headers["retry-after"]) > 0


@pytest.mark.parametrize(
    ("form", "headers", "error", "needle"),
    [
        ({"grant_type": "password"}, {}, "invalid_request", "username is missing"),
        ({"username": "a@example.com"}, {}, "invalid_request", "grant_type is missing"),
        ({"grant_type": "client_credentials"}, {}, "unsupported_grant_type", "not supported"),
        ({"grant_type": "refresh_token"}, {}, "invalid_request", "refresh_token is missing"),
        ("grant_type=password&grant_type=password", {}, "invalid_request", "more than once"),
        ('{"grant_type": "password"}', {"content-type": "application/json"}, "invalid_request",
         "as a form (Content-Type: application/x-www-form-urlencoded)"),
    ],
)  # fmt: skip
def test_bad_token_requests_name_what_is_wrong(
    http: httpx.Client, form: Any, headers: dict[str, str], error: str, needle: str
) -> None:
    if isinstance(form, str):
        headers = {"content-type": "application/x-www-form-urlencoded", **headers}
        response = http.post("/auth/token", content=form, headers=headers)
    else:
        response = http.post("/auth/token", data=form, headers=headers)
    assert needle in oauth_error(response, 400, error)


def test_the_token_endpoint_takes_post_only(http: httpx.Client) -> None:
    response = http.get("/auth/token")
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_kid(
    http: httpx.Client, server: AuthServer, email: str
) -> None:
    before = sign_in(http, email).json()
    old_kid = verify(before["access_token"], jwks_of(http), now())["kid"]
    done = server.cli("auth", "rotate-keys")
    assert done.returncode == 0, done.stderr
    new_kid = done.stdout.split("new signing key ")[1].split()[0]
    assert new_kid != old_kid and old_kid in done.stdout
    jwks = jwks_of(http)
    assert [k["kid"] for k in jwks["keys"]][:2] == [new_kid, old_kid]
    assert verify(before["access_token"], jwks, now())["kid"] == old_kid
    after = sign_in(http, email).json()
    assert verify(after["access_token"], jwks, now())["kid"] == new_kid
    refreshed = refresh(http, before["refresh_token"]).json()
    assert verify(refreshed["access_token"], jwks, now())["kid"] == new_kid


def test_data_folder_files_are_private(server: AuthServer) -> None:
    for name in ("auth_keys.json", "admin_key"):
        path = Path(server.data_dir) / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    keys = json.loads((Path(server.data_dir) / "auth_keys.json").read_text())
    assert all("d" in k["jwk"] for k in keys["keys"])


def test_app_functions_cannot_read_or_write_the_auth_tables(http: httpx.Client, email: str) -> None:
    sign_in(http, email)  # so there are refresh tokens too
    response = http.post("/api/query", json={"path": "peek:auth_tables", "args": {}})
    assert response.status_code == 200, response.text
    found = response.json()["value"]
    assert found == [[], [], [], []]
    response = http.post("/api/mutation", json={"path": "peek:write_account", "args": {}})
    assert response.json()["value"].startswith("refused")
    assert email not in http.post("/api/query", json={"path": "peek:auth_tables"}).text


def test_admin_endpoints_need_the_admin_key(http: httpx.Client, server: AuthServer) -> None:
    response = http.get("/api/admin/users")
    assert response.status_code == 401 and "admin key" in response.json()["message"]
    response = http.get("/api/admin/users", headers={"authorization": "Convex wrong"})
    assert response.status_code == 401
    key = server.admin_key
    response = http.get("/api/admin/users", headers={"authorization": f"Convex {key}"})
    assert response.status_code == 200 and "users" in response.json()
    response = http.post(
        "/api/admin/users",
        json={"email": "x@example.com"},
        headers={"authorization": f"Convex {key}"},
    )
    assert response.status_code == 400 and "password" in response.json()["message"]


def test_an_app_without_the_builtin_provider_has_no_auth_endpoints(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with launch(tmp_path_factory.mktemp("no-auth"), NO_AUTH_APP) as plain:
        with plain.http() as http:
            assert http.get("/.well-known/openid-configuration").status_code == 404
            assert http.post("/auth/token", data={"grant_type": "password"}).status_code == 404
        done = plain.cli("users", "list")
        assert done.returncode == 1
        assert "does not declare the built-in issuer" in done.stderr
        assert not (Path(plain.data_dir) / "auth_keys.json").exists()


def test_without_a_proxy_header_failures_are_counted_per_connecting_address(
    tmp_path: Path,
) -> None:
    """With no trusted proxy header configured, the address is the connection's own peer."""
    settings = {"LIVEBASE_AUTH_ADDRESS_FAILURES": "3", "LIVEBASE_AUTH_ACCOUNT_FAILURES": "10"}
    with launch(tmp_path, AUTH_APP, **settings) as server, server.http() as http:
        form = {"grant_type": "password", "password": "wrong password"}
        for n in range(3):
            guess = http.post("/auth/token", data={**form, "username": f"g{n}@example.com"})
            oauth_error(guess, 400, "invalid_grant")
        limited = http.post("/auth/token", data={**form, "username": "next@example.com"})
        assert "for this address" in oauth_error(limited, 429, "slow_down")
