"""Serving an app's own HTTP routes (``http.py``) with Starlette's ``Request`` and ``Response``.

Every path outside ``/api/`` and ``/_*`` (and ``/version``, ``/metrics``) goes to the app's
router. The handler runs like an action: it may take its time and reach the database through
``ctx.run_query`` / ``ctx.run_mutation``. It returns a Starlette ``Response``, or a ``dict`` or
``list``, answered as JSON. A handler that raises (or returns anything else) answers 500 with a
short body; the traceback goes to the server log under a request id, and under ``livebase dev``
the body's message also gives the error's type, message and the app's frames (``dev_errors``).
One that lets the refusal of its caller's ``Authorization: Bearer`` token out of ``ctx.auth``
answers 401, as ``/api/*`` does. A ``StreamingResponse`` is sent as its body is produced
(chunked), with no time limit on the body (Server-Sent Events); a ``FileResponse`` is read whole.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from starlette.requests import Request as StarletteRequest
from starlette.responses import FileResponse, JSONResponse
from starlette.responses import Response as StarletteResponse

from livebase.auth.callers import UserTokenCheck, no_user_tokens
from livebase.errors import LivebaseError
from livebase.functions.context import Auth
from livebase.functions.dev_errors import describe, server_error
from livebase.functions.http_router import Cors, HttpRouter, Route
from livebase.functions.runner import ActionCtx, Runner, new_request_id
from livebase.httpapi.api import error_response, json_response
from livebase.httpserver import Request, Response

log = logging.getLogger("livebase.routes")


def _scope(request: Request) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": request.path,
        "raw_path": request.path.encode("latin-1"),
        "query_string": request.query.encode("latin-1"),
        "root_path": "",
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()],
        "server": None,
        "client": None,
    }


async def _body_of(response: StarletteResponse) -> bytes | None:
    """The whole body of a response that has one (a file is read), or None for a streamed one."""
    body = getattr(response, "body", None)
    if isinstance(body, bytes):
        return body
    if isinstance(response, FileResponse):
        return await asyncio.to_thread(Path(response.path).read_bytes)
    return None


class _StreamedBody:
    """A ``StreamingResponse``'s body as it is produced, sent chunk by chunk (Server-Sent
    Events, long downloads). The handler's ``ctx`` stays usable until the body ends or is
    closed (the client went away), whichever comes first, even if it never started."""

    def __init__(self, response: StarletteResponse, ctx: ActionCtx, where: str) -> None:
        self._iterator = response.body_iterator.__aiter__()  # type: ignore[attr-defined]
        self._charset = getattr(response, "charset", "utf-8")
        self._ctx = ctx
        self._where = where

    def __aiter__(self) -> _StreamedBody:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except Exception:
            log.exception("HTTP route %s: its streamed body failed", self._where)
            await self.aclose()
            raise
        return chunk if isinstance(chunk, bytes) else str(chunk).encode(self._charset)

    async def aclose(self) -> None:
        try:
            aclose = getattr(self._iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            self._ctx.close()


async def route_caller(
    authorization: str | None, verify_user_token: UserTokenCheck
) -> tuple[dict[str, Any] | None, LivebaseError | None]:
    """Who an HTTP route is called by: the identity of an ``Authorization: Bearer`` user
    token, or why that token was refused (raised only if the handler asks for the identity:
    a route may use the header for a credential of its own)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None, None
    try:
        user = await verify_user_token(token.strip())
    except LivebaseError as exc:
        return None, exc
    return user.identity, None


async def serve_route(
    router: HttpRouter,
    runner: Runner,
    request: Request,
    verify_user_token: UserTokenCheck = no_user_tokens,
) -> Response:
    cors = router.cors
    if request.method == "OPTIONS" and cors is not None and router.allows_path(request.path):
        return _with_cors(_preflight(cors, request), cors, request)
    route = router.match(request.method, request.path)
    if route is None:
        status = 405 if router.allows_path(request.path) else 404
        code = "MethodNotAllowed" if status == 405 else "NotFound"
        message = f"no route for {request.method} {request.path}"
        return json_response(status, {"code": code, "message": message})
    body = request.body

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    identity, refused = await route_caller(request.headers.get("authorization"), verify_user_token)
    ctx = ActionCtx(runner, asyncio.get_running_loop(), identity)
    ctx.auth = Auth(identity, refused)
    limit = runner.engine.settings.limits.max_action_seconds
    content: bytes | None = b""
    try:
        result = await asyncio.wait_for(
            route.handler(ctx, StarletteRequest(_scope(request), receive)), limit
        )
        result = _as_response(route, result, runner.app.root)
        content = await _body_of(result)
    except Exception as exc:
        if refused is not None and exc is refused:  # the caller's token, not the handler
            answer = error_response(refused)
            return _with_cors(answer, cors, request) if cors is not None else answer
        request_id = new_request_id()
        log.exception(
            "[Request ID: %s] HTTP route %s %s failed", request_id, request.method, request.path
        )
        described = describe(exc, runner.app.root)
        where = f"{request.method} {request.path}"
        runner.logs.record(where, "http", (), request_id, failure=described)  # livebase logs
        message = server_error(request_id, described if runner.engine.settings.dev else "")
        return json_response(500, {"code": "InternalError", "message": message})
    finally:
        if content is not None:  # a streamed body closes it when it ends
            ctx.close()
    content_type = "text/plain"
    headers = []
    for raw_name, raw_value in result.raw_headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if name == "content-type":
            content_type = value
        elif name != "content-length":
            headers.append((name, value))
    if content is None:
        where = f"{request.method} {request.path}"
        response = Response(
            result.status_code, b"", content_type, headers, stream=_StreamedBody(result, ctx, where)
        )
    else:
        response = Response(result.status_code, content, content_type, headers)
    return _with_cors(response, cors, request) if cors is not None else response


def _as_response(route: Route, result: Any, app_root: Path) -> StarletteResponse:
    """What a handler returned, as a response: a ``dict`` or ``list`` is answered as JSON (200);
    anything but a Starlette ``Response`` is a ``TypeError`` that says what to return."""
    if isinstance(result, StarletteResponse):
        return result
    if isinstance(result, dict | list):
        return JSONResponse(result)
    handler = route.handler
    code = getattr(handler, "__code__", None)
    where = ""
    if code is not None:
        file = Path(code.co_filename)
        name = file.relative_to(app_root).as_posix() if file.is_relative_to(app_root) else file.name
        where = f" ({name}:{code.co_firstlineno})"
    raise TypeError(
        f"HTTP route handler {getattr(handler, '__qualname__', '?')}{where} for "
        f"{route.method} {route.path} returned {type(result).__name__}; return a starlette "
        "Response, or a dict/list for JSON"
    )


def _preflight(cors: Cors, request: Request) -> Response:
    return Response(
        204,
        b"",
        "text/plain",
        [
            ("access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"),
            ("access-control-allow-headers", ", ".join(cors.allowed_headers)),
            ("access-control-max-age", str(cors.max_age)),
        ],
    )


def _with_cors(response: Response, cors: Cors, request: Request) -> Response:
    allowed = cors.origin_header(request.headers.get("origin"))
    if allowed is not None:
        response.headers.append(("access-control-allow-origin", allowed))
        if cors.allow_credentials:
            response.headers.append(("access-control-allow-credentials", "true"))
        if allowed != "*":
            response.headers.append(("vary", "Origin"))
    return response
