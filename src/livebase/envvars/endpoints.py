"""The admin API behind ``livebase env`` (``Authorization: Convex <admin key>``)::

    GET    /api/admin/env                {"names": [...]}
    GET    /api/admin/env?values=true    {"names": [...], "values": {name: value}}
    GET    /api/admin/env/<NAME>         {"name", "value"}           404 EnvVarNotFound
    PUT    /api/admin/env/<NAME>         {"value"} -> {"name", "created"}
    DELETE /api/admin/env/<NAME>         {"name", "removed"}

Errors answer ``{"code", "message"}`` with the error's status, like the other admin endpoints.
"""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import parse_qs, unquote

from livebase.envvars.names import check_name
from livebase.envvars.store import EnvStore
from livebase.errors import BadRequestError, LivebaseError, UnauthenticatedError
from livebase.httpserver import Request, Response

ROUTE = "admin/env"


class EnvVarNotFoundError(LivebaseError):
    code = "EnvVarNotFound"
    http_status = 404


def is_env_route(route: str) -> bool:
    """Whether ``/api/<route>`` is one of these endpoints."""
    return route == ROUTE or route.startswith(ROUTE + "/")


def _json(status: int, body: Any) -> Response:
    return Response(
        status, json.dumps(body).encode(), "application/json", [("cache-control", "no-store")]
    )


async def serve(store: EnvStore, request: Request, route: str, admin_key: str) -> Response:
    """Answer ``/api/<route>`` (``is_env_route``); the admin key is required."""
    try:
        _check_admin(request.headers.get("authorization"), admin_key)
        if route == ROUTE:
            if request.method != "GET":
                return _json(405, {"code": "MethodNotAllowed", "message": "use GET"})
            wanted = parse_qs(request.query).get("values", ["false"])[-1].lower()
            if wanted in ("1", "true", "yes"):
                values = store.values()
                return _json(200, {"names": sorted(values), "values": dict(values)})
            return _json(200, {"names": store.names()})
        name = check_name(unquote(route[len(ROUTE) + 1 :]))
        if request.method == "GET":
            values = store.values()
            if name not in values:
                raise EnvVarNotFoundError(f"environment variable {name} is not set")
            return _json(200, {"name": name, "value": values[name]})
        if request.method == "PUT":
            value = _body(request.body)["value"]
            created = await store.set(name, value)  # checked there
            return _json(200, {"name": name, "created": created})
        if request.method == "DELETE":
            return _json(200, {"name": name, "removed": await store.unset(name)})
        return _json(405, {"code": "MethodNotAllowed", "message": "use GET, PUT or DELETE"})
    except LivebaseError as exc:
        return _json(exc.http_status, exc.to_json())


def _body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict) or "value" not in data:
        raise BadRequestError('the body must be a JSON object with "value" (a string)')
    return data


def _check_admin(authorization: str | None, admin_key: str) -> None:
    scheme, _, credential = (authorization or "").strip().partition(" ")
    if scheme != "Convex":
        raise UnauthenticatedError(
            "environment variables need the admin key: Authorization: Convex <admin key>"
        )
    key = credential.strip().partition(":")[0]
    if not hmac.compare_digest(key.encode(), admin_key.encode()):
        raise UnauthenticatedError("the admin key is not valid for this deployment")


__all__ = ["EnvVarNotFoundError", "is_env_route", "serve"]
