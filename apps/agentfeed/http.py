"""agentfeed's HTTP endpoints: ``POST /event`` (Claude Code hooks), ``POST /activity`` (any other
source) and ``GET /raw/<event_id>`` (an event's payload as received, reassembled).

``/event`` answers 200 for every body, usable or not (an unusable one is kept in
``rejected_events``), so a hook never retries or blocks on it; only a missing or wrong key (401)
or a database that cannot store anything (500) answers otherwise. ``/activity`` answers 400
with the reason for a payload it cannot use (kept as well): its senders are scripts that
benefit from hearing about their mistakes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from starlette.responses import JSONResponse, Response

from livebase import HttpRouter

from . import blobs, intake, payload, settings
from .normalize import dumps

http = HttpRouter()


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": f"missing or wrong {settings.KEY_HEADER} header"}, status_code=401
    )


@http.route("/event", method="POST")
async def event(ctx: Any, request: Any) -> Response:
    if not settings.authorized(request.headers.get(settings.KEY_HEADER)):
        return _unauthorized()
    result = await intake.receive(ctx, "event", await request.body())
    return JSONResponse(result)


@http.route("/activity", method="POST")
async def activity(ctx: Any, request: Any) -> Response:
    if not settings.authorized(request.headers.get(settings.KEY_HEADER)):
        return _unauthorized()
    result = await intake.receive(ctx, "activity", await request.body())
    return JSONResponse(result, status_code=400 if result["status"] == "rejected" else 200)


@http.route(path_prefix="/raw/", method="GET")
async def raw(ctx: Any, request: Any) -> Response:
    if not settings.authorized(request.headers.get(settings.KEY_HEADER)):
        return _unauthorized()
    event_id = unquote(request.url.path.removeprefix("/raw/"))
    parts = await ctx.run_query("events:raw_parts", {"event_id": event_id})
    if parts is None:
        return JSONResponse({"error": f"no event {event_id!r}"}, status_code=404)
    fields = {ref["field"]: await blobs.read(ctx, ref["blob"]) for ref in parts["blobs"]}
    body = dumps(payload.reassemble(parts["raw"], fields))
    return Response(body, media_type="application/json")
