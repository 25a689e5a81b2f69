"""The built-in issuer over HTTP: the OAuth 2.0 token and revocation endpoints, OpenID discovery,
the JWKS, and the admin API the ``livebase users`` commands use.

Public (only when the app declares the built-in issuer)::

    POST /auth/token                         grant_type=password (username, password)
                                             grant_type=refresh_token (refresh_token)
    POST /auth/revoke                        token=... (RFC 7009; 200 whatever the token)
    GET  /.well-known/openid-configuration   issuer, jwks_uri, token_endpoint, ...
    GET  /.well-known/jwks.json              the public signing keys

``/auth/*`` take ``application/x-www-form-urlencoded`` bodies only and answer errors as RFC 6749
§5.2 JSON (``{"error", "error_description"}``), never cached. Admin (``Authorization: Convex
<admin key>``)::

    GET  /api/admin/users                    {"users": [{email, subject, disabled, ...}]}
    POST /api/admin/users                    {"email", "password"} -> the new account
    POST /api/admin/users/disable | enable   {"email"}
    POST /api/admin/users/reset-password     {"email", "password"}
    POST /api/admin/users/grant-admin | revoke-admin   {"email"}  (the dashboard's admin role)
    POST /api/admin/auth/rotate-keys         -> {"kid", "published"}
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from livebase.auth.builtin.issuer import BuiltinIssuer
from livebase.errors import (
    BadRequestError,
    InvalidRequestError,
    LivebaseError,
    OAuthError,
    SlowDownError,
    UnauthenticatedError,
    UnsupportedGrantTypeError,
)
from livebase.httpserver import Request, Response

log = logging.getLogger("livebase.auth")

TOKEN_PATH = "/auth/token"
REVOKE_PATH = "/auth/revoke"
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"
PATHS = frozenset({TOKEN_PATH, REVOKE_PATH, DISCOVERY_PATH, JWKS_PATH})
ADMIN_ROUTES = frozenset(
    {
        "admin/users",
        "admin/users/disable",
        "admin/users/enable",
        "admin/users/reset-password",
        "admin/users/grant-admin",
        "admin/users/revoke-admin",
        "admin/auth/rotate-keys",
    }
)
GRANT_TYPES = ("password", "refresh_token")
CLAIMS = ("iss", "sub", "aud", "iat", "nbf", "exp", "email", "email_verified")
MAX_FORM_BYTES = 16 << 10

_NO_STORE = [("cache-control", "no-store"), ("pragma", "no-cache")]
_CORS = [("access-control-allow-origin", "*")]


def is_admin_route(route: str) -> bool:
    """Whether ``/api/<route>`` is one of the built-in issuer's admin endpoints."""
    return route in ADMIN_ROUTES


def _json(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(body).encode(), "application/json", headers or [])


# -- public endpoints ----------------------------------------------------------------------------


async def serve(issuer: BuiltinIssuer, request: Request, path: str) -> Response:
    """Answer one of ``PATHS``."""
    if request.method == "OPTIONS":
        return Response(
            204,
            b"",
            "text/plain",
            [
                *_CORS,
                ("access-control-allow-methods", "GET, POST, OPTIONS"),
                ("access-control-allow-headers", "content-type, authorization"),
                ("access-control-max-age", "86400"),
            ],
        )
    if path in (DISCOVERY_PATH, JWKS_PATH):
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed("GET")
        body = discovery(issuer) if path == DISCOVERY_PATH else issuer.public_jwks()
        return _json(200, body, [*_CORS, ("cache-control", "public, max-age=60")])
    if request.method != "POST":
        return _method_not_allowed("POST")
    try:
        form = parse_form(request)
        if path == TOKEN_PATH:
            tokens = await _token(issuer, request, form)
            return _json(200, tokens, [*_CORS, *_NO_STORE])
        token = _required(form, "token")
        await issuer.tokens.revoke(token)
        return Response(200, b"{}", "application/json", [*_CORS, *_NO_STORE])
    except OAuthError as exc:
        headers = [*_CORS, *_NO_STORE]
        if isinstance(exc, SlowDownError):
            headers.append(("retry-after", str(exc.retry_after)))
        return _json(exc.http_status, exc.to_oauth_json(), headers)
    except LivebaseError as exc:
        log.error("%s %s failed: %s", request.method, path, exc.message)
        error = {"error": "server_error", "error_description": exc.message}
        return _json(exc.http_status, error, [*_CORS, *_NO_STORE])


def discovery(issuer: BuiltinIssuer) -> dict[str, Any]:
    """The OpenID Provider metadata, so any OIDC client or verifier can use this issuer."""
    base = issuer.issuer
    return {
        "issuer": base,
        "jwks_uri": base + JWKS_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "revocation_endpoint": base + REVOKE_PATH,
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "subject_types_supported": ["public"],
        "claims_supported": list(CLAIMS),
    }


async def _token(issuer: BuiltinIssuer, request: Request, form: dict[str, str]) -> dict[str, Any]:
    grant = form.get("grant_type")
    if not grant:
        raise InvalidRequestError("grant_type is missing: use password or refresh_token")
    address = client_address(request, issuer.settings.auth_client_ip_header)
    try:
        if grant == "password":
            username, password = _required(form, "username"), _required(form, "password")
            tokens = await issuer.sign_in(username, password, address)
        elif grant == "refresh_token":
            tokens = await issuer.tokens.refresh(_required(form, "refresh_token"))
        else:
            raise UnsupportedGrantTypeError(
                f"grant_type {grant[:100]!r} is not supported: use password or refresh_token"
            )
    except OAuthError as exc:
        # Who and why, never a password or a token.
        who = f" for {form.get('username', '')[:254]!r}" if grant == "password" else ""
        where = address or "an unknown address"
        log.info("%s grant refused%s from %s: %s", grant[:40], who, where, exc.code)
        raise
    return tokens.to_json()


def parse_form(request: Request) -> dict[str, str]:
    """The form parameters; ``InvalidRequestError`` for another body type, a parameter given
    twice (RFC 6749 §3.2) or a body that is not a form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded" and (content_type or request.body):
        raise InvalidRequestError(
            "send the parameters as a form (Content-Type: application/x-www-form-urlencoded); "
            f"got {content_type or 'no Content-Type'}"
        )
    if len(request.body) > MAX_FORM_BYTES:
        raise InvalidRequestError(f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError(f"the body is not a UTF-8 form: {exc}") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequestError(f"{name[:100]} is given more than once")
        form[name] = value
    return form


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidRequestError(f"{name} is missing")
    return value


def client_address(request: Request, header: str) -> str | None:
    """The client's address for per-address limits: the last hop of ``header`` (set by a
    trusted proxy) when configured, else the connection's peer when the server reports it."""
    if header:
        value = request.headers.get(header.strip().lower(), "")
        hop = value.split(",")[-1].strip()
        return hop or None
    peer = getattr(request, "client", None)
    return str(peer) if peer else None


def _method_not_allowed(allowed: str) -> Response:
    body = {"error": "invalid_request", "error_description": f"use {allowed}"}
    return _json(405, body, [("allow", allowed)])


# -- admin API -----------------------------------------------------------------------------------


async def serve_admin(
    issuer: BuiltinIssuer | None, request: Request, route: str, admin_key: str
) -> Response:
    """Answer ``/api/<route>`` for one of ``ADMIN_ROUTES`` (the admin key is required)."""
    try:
        _check_admin(request.headers.get("authorization"), admin_key)
        if issuer is None:
            return _json(
                404,
                {
                    "code": "BuiltinIssuerDisabled",
                    "message": "this app does not declare the built-in issuer: add "
                    '{"type": "builtin"} to the providers in its auth.py (see docs/auth.md)',
                },
            )
        allowed = ("GET", "POST") if route == "admin/users" else ("POST",)
        if request.method not in allowed:
            message = f"use {' or '.join(allowed)}"
            return _json(405, {"code": "MethodNotAllowed", "message": message})
        return _json(200, await _admin(issuer, route, request.method, request.body))
    except LivebaseError as exc:
        return _json(exc.http_status, exc.to_json())


async def _admin(issuer: BuiltinIssuer, route: str, method: str, body: bytes) -> Any:
    if route == "admin/users" and method == "GET":
        return {"users": [a.public() for a in issuer.accounts.list()]}
    if route == "admin/auth/rotate-keys":
        key = issuer.rotate_keys()
        return {"kid": key.kid, "published": [k["kid"] for k in issuer.public_jwks()["keys"]]}
    data = json_body(body)
    email = data.get("email")
    if not isinstance(email, str) or not email:
        raise BadRequestError('the body needs "email" (a string)')
    if route in ("admin/users", "admin/users/reset-password"):
        password = data.get("password")
        if not isinstance(password, str):
            raise BadRequestError('the body needs "password" (a string)')
        if route == "admin/users":
            account = await issuer.accounts.add(email, password)
        else:
            account = await issuer.accounts.reset_password(email, password)
    elif route in ("admin/users/grant-admin", "admin/users/revoke-admin"):
        account = await issuer.accounts.set_admin(email, route == "admin/users/grant-admin")
    else:
        disabled = route == "admin/users/disable"
        account = await issuer.accounts.set_disabled(email, disabled)
    return account.public()


def json_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise BadRequestError("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequestError("the body must be a JSON object")
    return data


def _check_admin(authorization: str | None, admin_key: str) -> None:
    scheme, _, credential = (authorization or "").strip().partition(" ")
    if scheme != "Convex":
        raise UnauthenticatedError(
            "managing accounts needs the admin key: Authorization: Convex <admin key>"
        )
    key = credential.strip().partition(":")[0]
    if not hmac.compare_digest(key.encode(), admin_key.encode()):
        raise UnauthenticatedError("the admin key is not valid for this deployment")


__all__ = [
    "ADMIN_ROUTES",
    "DISCOVERY_PATH",
    "JWKS_PATH",
    "PATHS",
    "REVOKE_PATH",
    "TOKEN_PATH",
    "client_address",
    "discovery",
    "is_admin_route",
    "json_body",
    "parse_form",
    "serve",
    "serve_admin",
]
