"""HTTP routes in the test kit: ``t.fetch("POST", "/webhook", json={...})`` runs the app's
``http.py`` route in-process, exactly as the server does (the same router, ``ctx``, errors and
streamed bodies), and returns what a client would receive.

A signed-in caller (``t.as_user(...)``) sends ``Authorization: Bearer`` with a stand-in token that
only the harness accepts, so ``ctx.auth.get_user_identity()`` in the route is that user; the
admin and anonymous callers send none unless the test passes its own headers.
"""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from livebase.auth.callers import VerifiedUser
from livebase.httpserver import Request, Response
from livebase.routes import serve_route
from livebase.server import Deployment

HARNESS_TOKEN = "livebase-testing-user"


@dataclass
class HttpResult:
    """A route's answer: status, headers (lower-case names), body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.body)


def build_request(
    method: str,
    url: str,
    *,
    json: Any = None,
    body: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
    identity: dict[str, Any] | None = None,
) -> Request:
    """The server's ``Request`` for ``method url`` (``url`` is a path with an optional query)."""
    if json is not None and body is not None:
        raise ValueError("fetch takes json= or body=, not both")
    sent = {name.lower(): value for name, value in (headers or {}).items()}
    if json is not None:
        raw = jsonlib.dumps(json).encode()
        sent.setdefault("content-type", "application/json")
    else:
        raw = body.encode() if isinstance(body, str) else (body or b"")
    if identity is not None:
        sent.setdefault("authorization", f"Bearer {HARNESS_TOKEN}")
    sent["content-length"] = str(len(raw))
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        raise ValueError(f"fetch takes a path like '/webhook?x=1', not a full URL ({url!r})")
    return Request(method.upper(), parts.path or "/", parts.query, sent, raw, "127.0.0.1")


async def fetch(
    deployment: Deployment, request: Request, identity: dict[str, Any] | None
) -> HttpResult:
    """Serve ``request`` with the app's routes; a streamed body is read to its end."""
    router = deployment.app.http
    if router is None:
        return HttpResult(404, {"content-type": "application/json"}, b'{"code":"NotFound"}')

    async def verify(token: str) -> VerifiedUser:
        if identity is not None and token == HARNESS_TOKEN:
            return VerifiedUser(identity, time.time() + 3600)
        checked: VerifiedUser = await deployment.sync.verify_user_token(token)  # a real token
        return checked

    response: Response = await serve_route(router, deployment.runner, request, verify)
    body = response.body
    if response.stream is not None:
        body = b"".join([chunk async for chunk in response.stream])
    headers = {name.lower(): value for name, value in response.headers}
    headers["content-type"] = response.content_type
    return HttpResult(response.status, headers, body)
