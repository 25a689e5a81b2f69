"""Full transcripts as files: the session's JSONL file as Claude Code wrote it, kept with
Livebase's file storage and named by its session.

``POST /import/transcript/<session_id>`` (what ``agentfeed import-transcripts`` sends after a
session's events and usage; the key as for ``POST /event``) takes the file's bytes as the body,
stores them as a file (``application/x-ndjson``) and sets the session's ``transcript_file``:
``{file, bytes, sha256, content_type, uploaded_at}``. The same bytes again change nothing (the
new copy is deleted); other bytes replace the file (the old one is deleted). A session the
server does not know is a 404, and nothing is kept.

``GET /transcript/<session_id>`` redirects the signed-in owner (``Authorization: Bearer``) to
the file's download URL (streamed, with ``ETag`` and ranges: ``docs/files.md``), which the page
gets from ``transcript_files:url``. A transcript holds everything the
session saw, secrets included, and is never redacted: the public gets a 404 for every session,
and the public view never shows ``transcript_file`` (``access.py``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from starlette.responses import JSONResponse, RedirectResponse, Response

from livebase import internal_mutation, query, v

from . import access, settings
from . import sessions as session_table

CONTENT_TYPE = "application/x-ndjson"
UPLOAD_PREFIX = "/import/transcript/"
DOWNLOAD_PREFIX = "/transcript/"
FIELD = "transcript_file"


def _session_id(request: Any, prefix: str) -> str | None:
    session_id = unquote(request.url.path.removeprefix(prefix))
    return session_id if session_id and "/" not in session_id else None


async def upload(ctx: Any, request: Any) -> Response:
    """``POST /import/transcript/<session_id>``: ``{status: stored | unchanged, file, bytes,
    sha256, content_type, uploaded_at}``; 404 for an unknown session, 400 for an empty body."""
    if not settings.authorized(request.headers.get(settings.KEY_HEADER)):
        return JSONResponse(
            {"error": f"missing or wrong {settings.KEY_HEADER} header"}, status_code=401
        )
    session_id = _session_id(request, UPLOAD_PREFIX)
    if session_id is None:
        return JSONResponse({"error": f"POST {UPLOAD_PREFIX}<session id>"}, status_code=400)
    body = await request.body()
    if not body:
        message = "the body is empty: send the transcript file"
        return JSONResponse({"error": message}, status_code=400)
    file = await ctx.storage.store(body, content_type=CONTENT_TYPE)
    try:
        result: dict[str, Any] = await ctx.run_mutation(
            "transcript_files:attach", {"session_id": session_id, "file": file}
        )
    except Exception:
        await ctx.storage.delete(file)
        raise
    if result["status"] == "no_session":
        return JSONResponse({"error": f"no session {session_id!r}"}, status_code=404)
    return JSONResponse(result)


@internal_mutation
def attach(ctx, session_id: str, file: Annotated[str, v.id("_storage")]) -> dict[str, Any]:
    """Name a stored transcript file in its session (see the module docstring)."""
    session = session_table.find(ctx, session_id)
    if session is None:
        ctx.storage.delete(file)
        return {"status": "no_session"}
    meta = ctx.storage.get_metadata(file)
    old = session.get(FIELD)
    if old is not None and old["sha256"] == meta["sha256"]:
        ctx.storage.delete(file)
        return {"status": "unchanged", **old}
    if old is not None and ctx.db.system.get(old["file"]) is not None:
        ctx.storage.delete(old["file"])
    ref = {"file": file, "bytes": float(meta["size"]), "sha256": meta["sha256"]}
    ref |= {"content_type": CONTENT_TYPE, "uploaded_at": ctx.now}
    ctx.db.patch(session["_id"], {FIELD: ref})
    return {"status": "stored", **ref}


@query
def url(ctx, session_id: str) -> str | None:
    """The download URL of a session's transcript file, for the owner (a bearer URL: whoever
    has it can download the file); None for the public, and when there is none."""
    if not access.is_owner(ctx):
        return None
    session = session_table.find(ctx, session_id)
    ref = session.get(FIELD) if session is not None else None
    return ctx.storage.get_url(ref["file"]) if ref is not None else None


async def download(ctx: Any, request: Any) -> Response:
    """``GET /transcript/<session_id>``: a redirect to the file for the owner; 404 otherwise."""
    session_id = _session_id(request, DOWNLOAD_PREFIX)
    found = None
    if session_id is not None and access.is_owner(ctx):
        found = await ctx.run_query("transcript_files:url", {"session_id": session_id})
    if found is None:
        return JSONResponse({"error": f"no transcript for {session_id!r}"}, status_code=404)
    return RedirectResponse(found, status_code=302)
