"""The admin API behind ``livebase logs`` (``Authorization: Convex <admin key>``)::

    GET /api/admin/logs?after=<cursor>&function=<path>&level=<level>&since=<ms>&limit=<n>&wait=<s>
        -> {"entries": [...], "cursor": <n>, "oldest": <n>, "capacity": <n>}

``after`` (default 0): only entries numbered above it; give back the ``cursor`` of the last answer
to get what came since (the answer's ``cursor`` also moves past entries the filters left out).
``function``: a path (``messages:list``), a module (``messages``) or an HTTP route
(``GET /hook``). ``level``: ``debug``, ``log``/``info``, ``warn`` or ``error`` and above.
``since``: milliseconds since the epoch. ``limit``: at most this many entries (1..1000, default
1000). ``wait`` (0..30 s, default 0): a long poll: when nothing matches yet, answer as soon as
something does, or after ``wait`` seconds with no entries; that is how ``--follow`` streams.
``oldest`` is the number of the oldest entry still kept (entries numbered between ``after`` and it
were dropped by the bound), ``capacity`` the bound.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any
from urllib.parse import parse_qs

from livebase.errors import BadRequestError, LivebaseError, UnauthenticatedError
from livebase.httpserver import Request, Response
from livebase.logs.store import RANK, LogStore

ROUTE = "admin/logs"
MAX_WAIT = 30.0
MAX_PAGE = 1000


def _json(status: int, body: Any) -> Response:
    return Response(
        status, json.dumps(body).encode(), "application/json", [("cache-control", "no-store")]
    )


def _check_admin(authorization: str | None, admin_key: str) -> None:
    scheme, _, credential = (authorization or "").strip().partition(" ")
    if scheme != "Convex":
        raise UnauthenticatedError("logs need the admin key: Authorization: Convex <admin key>")
    key = credential.strip().partition(":")[0]
    if not hmac.compare_digest(key.encode(), admin_key.encode()):
        raise UnauthenticatedError("the admin key is not valid for this deployment")


def _number(
    params: dict[str, list[str]], name: str, default: float, low: float, high: float
) -> float:
    raw = params.get(name, [""])[-1]
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be a number, got {raw!r}") from None
    if value != value:  # NaN
        raise BadRequestError(f"{name} must be a number, got {raw!r}")
    return min(max(value, low), high)


async def serve(store: LogStore, request: Request, admin_key: str) -> Response:
    """Answer ``GET /api/admin/logs`` (the admin key is required)."""
    try:
        _check_admin(request.headers.get("authorization"), admin_key)
        if request.method != "GET":
            return _json(405, {"code": "MethodNotAllowed", "message": "use GET"})
        params = parse_qs(request.query)
        after = int(_number(params, "after", 0, 0, 2**62))
        limit = int(_number(params, "limit", MAX_PAGE, 1, MAX_PAGE))
        wait = _number(params, "wait", 0.0, 0.0, MAX_WAIT)
        since_ms = _number(params, "since", -1, -1, 2**62)
        function = params.get("function", [""])[-1] or None
        level = params.get("level", [""])[-1].upper() or None
        if level is not None and level not in RANK:
            raise BadRequestError(
                f"level must be one of debug, log, info, warn, error; got {level!r}"
            )
        since = since_ms / 1000 if since_ms >= 0 else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            entries, cursor = store.after(
                after, function=function, level=level, since=since, limit=limit
            )
            remaining = deadline - loop.time()
            if entries or remaining <= 0 or store.closed:
                break
            after = cursor
            await store.wait(cursor, remaining)
        return _json(
            200,
            {
                "entries": [entry.to_json() for entry in entries],
                "cursor": cursor,
                "oldest": store.oldest,
                "capacity": store.limit,
            },
        )
    except LivebaseError as exc:
        return _json(exc.http_status, exc.to_json())


__all__ = ["ROUTE", "serve"]
