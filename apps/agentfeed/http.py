"""agentfeed's HTTP endpoints: ``POST /event`` (Claude Code hooks), ``POST /activity`` (any other
source) and ``GET /raw/<event_id>`` (an event's payload as received, reassembled); ``GET /`` and
``GET /static/...`` serve the feed page (``static/``, no build step). ``POST /v1/logs`` and
``POST /v1/metrics`` receive Claude Code's OpenTelemetry export (``telemetry.py``).
``GET /event`` answers whether a post with the same key header would be let in (200, or 401),
storing nothing: ``agentfeed install-hook`` checks its key with it.

``/event`` answers 200 for every body, usable or not (an unusable one is kept in
``rejected_events``), so a hook never retries or blocks on it; only a missing or wrong key (401,
counted per day in ``delivery``) or a database that cannot store anything (500) answers
otherwise. ``/activity`` answers 400
with the reason for a payload it cannot use (kept as well): its senders are scripts that
benefit from hearing about their mistakes. ``POST /import/events`` and ``POST /import/usage``
take what ``agentfeed import-transcripts`` sends (``transcripts.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.responses import JSONResponse, Response

from livebase import HttpRouter

from . import (
    access,
    blobs,
    delivery,
    intake,
    payload,
    settings,
    telemetry,
    transcript_files,
    transcripts,
)
from .normalize import dumps

settings.make_keys()  # at start, before the first request (under the livebase command only)

http = HttpRouter()
http.route("/import/events", method="POST")(transcripts.import_events)
http.route("/import/usage", method="POST")(transcripts.import_usage)
http.route(path_prefix=transcript_files.UPLOAD_PREFIX, method="POST")(transcript_files.upload)
http.route(path_prefix=transcript_files.DOWNLOAD_PREFIX, method="GET")(transcript_files.download)


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": f"missing or wrong {settings.KEY_HEADER} header"}, status_code=401
    )


@http.route("/event", method="GET")
async def event_check(ctx: Any, request: Any) -> Response:
    if not settings.authorized(request.headers.get(settings.KEY_HEADER)):
        return _unauthorized()
    return JSONResponse({"ok": True, "key_required": settings.api_key() is not None})


@http.route("/event", method="POST")
async def event(ctx: Any, request: Any) -> Response:
    if not settings.authorized(request.headers.get(settings.KEY_HEADER)):
        await delivery.refused(ctx, "event")
        return _unauthorized()
    result = await intake.receive(ctx, "event", await request.body())
    return JSONResponse(result)


@http.route("/activity", method="POST")
async def activity(ctx: Any, request: Any) -> Response:
    if not settings.authorized(request.headers.get(settings.KEY_HEADER)):
        await delivery.refused(ctx, "activity")
        return _unauthorized()
    result = await intake.receive(ctx, "activity", await request.body())
    return JSONResponse(result, status_code=400 if result["status"] == "rejected" else 200)


@http.route("/v1/logs", method="POST")
async def otlp_logs(ctx: Any, request: Any) -> Response:
    """OTLP/HTTP logs from Claude Code's telemetry (``telemetry.py``)."""
    return await telemetry.receive(ctx, request, "log")


@http.route("/v1/metrics", method="POST")
async def otlp_metrics(ctx: Any, request: Any) -> Response:
    """OTLP/HTTP metrics from Claude Code's telemetry (``telemetry.py``)."""
    return await telemetry.receive(ctx, request, "metric")


@http.route(path_prefix="/raw/", method="GET")
async def raw(ctx: Any, request: Any) -> Response:
    """The owner (signed in: ``Authorization: Bearer <access token>``) gets any event's
    payload as received; anyone else (with ``X-Agentfeed-Key`` when one is set) only a public
    project's event as ``events:get`` shows it to the public (its redacted ``raw``, large fields
    as previews: their blobs are never read for the public), and 404 for any other."""
    owner = access.is_owner(ctx)
    if not owner and not settings.authorized(request.headers.get(settings.KEY_HEADER)):
        return _unauthorized()
    event_id = unquote(request.url.path.removeprefix("/raw/"))
    if not owner:
        shown = await ctx.run_query("events:get", {"event_id": event_id})
        if shown is None:
            return JSONResponse({"error": f"no event {event_id!r}"}, status_code=404)
        return Response(shown["raw"], media_type="application/json")
    parts = await ctx.run_query("events:raw_parts", {"event_id": event_id})
    if parts is None:
        return JSONResponse({"error": f"no event {event_id!r}"}, status_code=404)
    fields = {ref["field"]: await blobs.read(ctx, ref) for ref in parts["blobs"]}
    return Response(dumps(payload.reassemble(parts["raw"], fields)), media_type="application/json")


STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def _static_file(name: str) -> Response:
    path = (STATIC / name).resolve()
    media_type = MEDIA_TYPES.get(path.suffix)
    if media_type is None or path.parent != STATIC.resolve() or not path.is_file():
        return JSONResponse({"error": f"no file {name!r}"}, status_code=404)
    return Response(path.read_bytes(), media_type=media_type, headers={"cache-control": "no-cache"})


@http.route("/", method="GET")
async def page(ctx: Any, request: Any) -> Response:
    """The feed page (open to anyone who can reach the server: it calls public functions, which
    show everything once the owner signs in on it)."""
    return _static_file("index.html")


@http.route(path_prefix="/static/", method="GET")
async def static(ctx: Any, request: Any) -> Response:
    return _static_file(unquote(request.url.path.removeprefix("/static/")))
