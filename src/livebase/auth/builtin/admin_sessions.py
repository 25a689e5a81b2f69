"""Dashboard sessions of admin accounts: a built-in account with the ``admin`` role signs in to
``/_dashboard`` with its email and password and gets a session token that stands in for the
admin key.

``POST /api/admin/dashboard/session`` ``{"email", "password"}`` answers ``{"token", "email",
"expiresAt"}`` (403 ``NotAnAdmin`` for an account without the role); ``DELETE`` with the token
in ``Authorization: Convex <token>`` ends it. Only the token's SHA-256 is kept, in this
process's memory (a restart signs every dashboard out). Each use checks the account again, so
revoking the role or disabling the account ends its dashboard access at the next request, and
``on_revoked`` listeners close its live connections at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livebase.auth.builtin.endpoints import client_address, json_body
from livebase.auth.builtin.issuer import BuiltinIssuer
from livebase.errors import (
    BadRequestError,
    ForbiddenError,
    LivebaseError,
    OAuthError,
)
from livebase.httpserver import Request, Response

TOKEN_PREFIX = "lb_dash_"
ROUTE = "admin/dashboard/session"
SESSION_SECONDS = 12 * 3600
ADMIN_KEY_ONLY = frozenset({"admin/users/grant-admin", "admin/users/revoke-admin"})
"""Routes a dashboard session never stands in for: only the admin key grants the role."""


@dataclass(frozen=True)
class _Session:
    subject: str
    expires_at: float


class AdminSessions:
    """The open dashboard sessions of admin accounts (by token hash)."""

    def __init__(self, issuer: Callable[[], BuiltinIssuer | None]) -> None:
        self._issuer = issuer
        self._sessions: dict[str, _Session] = {}
        self.on_revoked: list[Callable[[], None]] = []
        """Called after an account's role or state changed: live connections check again."""

    @staticmethod
    def is_session_token(value: str) -> bool:
        return value.startswith(TOKEN_PREFIX)

    async def open(self, email: str, password: str, address: str | None) -> dict[str, Any]:
        issuer = self._issuer()
        if issuer is None:
            raise ForbiddenError(
                "this app has no built-in accounts: sign in with the admin key", code="NotAnAdmin"
            )
        account = await issuer.check_password(email, password, address)
        if not account.admin:
            raise ForbiddenError(
                f"{account.email} is not an admin account: ask someone with the admin key to run "
                f"livebase users grant-admin {account.email}, or sign in with the admin key",
                code="NotAnAdmin",
            )
        self._prune()
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = time.time() + SESSION_SECONDS
        self._sessions[_digest(token)] = _Session(account.subject, expires_at)
        return {"token": token, "email": account.email, "expiresAt": round(expires_at * 1000)}

    def close(self, token: str) -> None:
        self._sessions.pop(_digest(token), None)

    def valid(self, token: str) -> bool:
        """Whether ``token`` is a dashboard session of an account that is still an active admin."""
        if not self.is_session_token(token):
            return False
        session = self._sessions.get(_digest(token))
        issuer = self._issuer()
        if session is None or issuer is None or session.expires_at <= time.time():
            return False
        account = issuer.accounts.get(session.subject)
        return account is not None and account.admin and not account.disabled

    def changed(self) -> None:
        """An account's role or state changed: forget sessions that no longer hold and tell
        the listeners (open sockets are checked again)."""
        for digest, session in list(self._sessions.items()):
            issuer = self._issuer()
            account = issuer.accounts.get(session.subject) if issuer is not None else None
            if account is None or not account.admin or account.disabled:
                del self._sessions[digest]
        for listener in self.on_revoked:
            listener()

    def _prune(self) -> None:
        now = time.time()
        for digest, session in list(self._sessions.items()):
            if session.expires_at <= now:
                del self._sessions[digest]

    def as_admin_key(self, authorization: str | None, route: str, admin_key: str) -> str | None:
        """``authorization`` with a valid session token replaced by the admin key (the server's
        admin checks then hold), None when it carries no session token; a session that no
        longer holds is answered by the admin checks like any wrong key."""
        scheme, _, credential = (authorization or "").strip().partition(" ")
        key, colon, acting_as = credential.strip().partition(":")
        if scheme not in ("Convex", "Bearer") or not self.is_session_token(key):
            return None
        if route in ADMIN_KEY_ONLY or not self.valid(key):
            return None
        return f"{scheme} {admin_key}{colon}{acting_as}"

    async def serve(self, request: Request) -> Response:
        """``/api/admin/dashboard/session``: POST signs in, DELETE signs out."""
        try:
            if request.method == "DELETE":
                _, _, token = (request.headers.get("authorization") or "").partition(" ")
                self.close(token.strip())
                return _json(200, {})
            if request.method != "POST":
                return _json(405, {"code": "MethodNotAllowed", "message": "use POST or DELETE"})
            body = json_body(request.body)
            email, password = body.get("email"), body.get("password")
            if not isinstance(email, str) or not isinstance(password, str) or not password:
                raise BadRequestError('the body needs "email" and "password" (strings)')
            issuer = self._issuer()
            header = issuer.settings.auth_client_ip_header if issuer is not None else ""
            return _json(200, await self.open(email, password, client_address(request, header)))
        except OAuthError as exc:  # wrong password, disabled, too many failures
            code = 429 if exc.http_status == 429 else 401
            return _json(code, {"code": exc.code, "message": exc.message})
        except LivebaseError as exc:
            return _json(exc.http_status, exc.to_json())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _json(status: int, body: Any) -> Response:
    headers = [("cache-control", "no-store")]
    return Response(status, json.dumps(body).encode(), "application/json", headers)


__all__ = ["ADMIN_KEY_ONLY", "ROUTE", "TOKEN_PREFIX", "AdminSessions"]
