"""Events: ingestion (one transaction per payload) and the event queries (feed, timeline).

``ingest`` is the only writer of ``events``. In one transaction it parses the payload the HTTP
handler passed (large fields already moved to pending blobs), checks it (an unusable payload
becomes a ``rejected_events`` row with the reason), drops a replay (idempotent on
``event_id``), normalises it (``normalize.py``), stores the event and keeps the session, the
project, the tool call and the day's counts in step. Doing this in the mutation rather than in
triggers keeps the order explicit: the event's project comes from its session, and the tool
call points at the event just written.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from livebase import AppError, PaginationOptions, internal_mutation, internal_query, query

from . import (
    access,
    feed_search,
    normalize,
    projects,
    redacted,
    sessions,
    similar,
    stats,
    tool_calls,
)
from . import rejected as rejected_table
from .blobs import BlobRef
from .blobs import attach as attach_blobs

PAGE_LIMIT = 200
SCAN_LIMIT = 5000
"""Rows one feed page may scan when filters go beyond its index (several filters, the public
view): the page can then hold fewer items than asked, with ``isDone`` false."""
LISTING_DROPS = ("raw", redacted.FIELD)
"""Fields a listing leaves out (``events:get`` has them)."""
REFRESH_BATCH = 25
"""Documents ``refresh_redacted`` gives a current redacted copy per run (an event's copy takes
one to a few milliseconds to make from its ``raw``)."""


@internal_mutation
def ingest(
    ctx,
    endpoint: Literal["event", "activity"],
    raw: str,
    blobs: list[BlobRef],
    raw_bytes: float,
    generated_id: str,
    redacted_raw: str | None = None,
) -> dict[str, Any]:
    """Store one payload: ``{status: stored | duplicate | rejected, id, reason?}``.

    ``raw`` is the payload as JSON text with large fields replaced by previews, ``blobs`` the
    pending blobs holding those fields, ``raw_bytes`` the size of the body received,
    ``generated_id`` the event id of a payload sent without one (an activity without ``id``, a
    raw Claude Code hook payload without ``event_id``) and ``redacted_raw`` the payload as the
    public may see it (``redacted.public_payload``, redacted before it was cut; without it,
    ``raw`` is redacted here). The event's redacted copy is made from it.
    """
    return store(ctx, endpoint, raw, blobs, raw_bytes, generated_id, redacted_raw)


def store(
    ctx: Any,
    endpoint: str,
    raw: str,
    blobs: list[BlobRef],
    raw_bytes: float,
    generated_id: str,
    redacted_raw: str | None = None,
    retry_of: str | None = None,
) -> dict[str, Any]:
    """``ingest`` in the caller's transaction. ``retry_of``: the ``rejected_events`` row being
    re-ingested (``rejected:retry``): a payload still unusable updates that row rather than
    adding one."""
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        reason = f"the body is not JSON: {exc}"
        return reject(ctx, endpoint, reason, raw, raw_bytes, blobs, retry_of=retry_of)
    if endpoint == "event":
        problem = normalize.hook_problem(payload)
    else:
        problem = normalize.activity_problem(payload)
    if problem is not None:
        event_id = payload.get("event_id") if isinstance(payload, dict) else None
        return reject(ctx, endpoint, problem, raw, raw_bytes, blobs, event_id, retry_of)
    if endpoint == "event":
        event = normalize.normalize_hook(payload, generated_id)
    else:
        event_id = normalize.activity_event_id(payload, generated_id)
        event = normalize.normalize_activity(payload, event_id)
    existing = find(ctx, event["event_id"])
    if existing is not None:
        return {"status": "duplicate", "id": existing["_id"], "event_id": event["event_id"]}
    event.setdefault("timestamp", ctx.now)
    event[redacted.FIELD] = redacted.event_copy(
        event["origin"], _public_payload(endpoint, payload, redacted_raw)
    )
    applied = sessions.apply_event(ctx, event)
    if applied is not None and applied.project is not None:
        event["project"] = applied.project
    doc = {**event, "received_at": ctx.now, "raw": raw, "raw_bytes": raw_bytes, "blobs": blobs}
    event_doc = ctx.db.insert("events", doc)
    attach_blobs(ctx, blobs, event_doc)
    new_session = applied is not None and (applied.created or applied.joined_project)
    projects.apply_event(ctx, event, new_session)
    tool_calls.apply_event(ctx, event, event_doc)
    stats.apply_event(ctx, event, applied is not None and applied.created)
    similar.apply_event(ctx, event, event.get("project"))
    return {"status": "stored", "id": event_doc, "event_id": event["event_id"]}


def _public_payload(endpoint: str, payload: Any, redacted_raw: str | None) -> dict[str, Any]:
    try:
        shown = json.loads(redacted_raw) if redacted_raw is not None else None
    except ValueError:
        shown = None
    if isinstance(shown, dict):
        return shown
    return redacted.public_payload(endpoint, payload)


def reject(
    ctx: Any,
    endpoint: str,
    reason: str,
    body: str,
    body_bytes: float,
    refs: list[BlobRef],
    event_id: object = None,
    retry_of: str | None = None,
) -> dict[str, Any]:
    """Keep an unusable body in ``rejected_events`` (bounded: ``rejected.keep``)."""
    return rejected_table.keep(ctx, endpoint, reason, body, body_bytes, refs, event_id, retry_of)


@internal_mutation
def record_rejection(
    ctx,
    endpoint: str,
    reason: str,
    body: str,
    body_bytes: float,
    blobs: list[BlobRef],
    event_id: str | None = None,
    export: rejected_table.ExportHeaders | None = None,
) -> dict[str, Any]:
    """Keep a body the HTTP handler could not pass to ``ingest`` (not UTF-8, not JSON, too
    large, or ``ingest`` failed), with the reason; ``export``: an OTLP export's headers."""
    return rejected_table.keep(
        ctx, endpoint, reason, body, body_bytes, blobs, event_id, export=export
    )


def find(ctx: Any, event_id: str) -> dict[str, Any] | None:
    return (
        ctx.db.query("events")
        .with_index("by_event_id", lambda q: q.eq("event_id", event_id))
        .first()
    )


@internal_query
def seen(ctx, event_id: str) -> str | None:
    """The stored event with this id, if any (lets a handler skip uploading a replay's large
    fields)."""
    event = find(ctx, event_id)
    return event["_id"] if event is not None else None


@internal_query
def raw_parts(ctx, event_id: str) -> dict[str, Any] | None:
    """An event's ``raw`` text and the blobs of its moved fields (``GET /raw/<event_id>``
    reassembles them)."""
    event = find(ctx, event_id)
    if event is None:
        return None
    return {"raw": event["raw"], "blobs": event["blobs"]}


@internal_query
def rejected(ctx, limit: float = 50) -> list[dict[str, Any]]:
    """The latest rejected payloads with their reasons."""
    return ctx.db.query("rejected_events").with_index("by_time").order("desc").take(int(limit))


# -- queries ---------------------------------------------------------------------------------------


def _listing(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in doc.items() if k not in LISTING_DROPS} for doc in docs]


def _page_opts(opts: PaginationOptions, scan: bool) -> dict[str, Any]:
    bounded: dict[str, Any] = {**opts, "numItems": min(opts["numItems"], PAGE_LIMIT)}
    if scan:
        rows = opts.get("maximumRowsRead")
        bounded["maximumRowsRead"] = min(rows, SCAN_LIMIT) if rows is not None else SCAN_LIMIT
    return bounded


@query
def feed(
    ctx,
    paginationOpts: PaginationOptions,
    project: str | None = None,
    session_id: str | None = None,
    type: str | None = None,
    tool: str | None = None,
    search: str | None = None,
) -> dict[str, Any]:
    """The latest events first, optionally filtered; with ``search``, the events whose summary
    holds every word of it (the last as a prefix), best match first, through the caller's search
    index (``feed_search.py``: the public's holds only redacted summaries). Without a search,
    the most selective filter picks the index (session, tool, type, project, else time) and any
    other filter is applied while scanning at most ``SCAN_LIMIT`` rows per page, so a page may
    come back short. For the public, only public projects' events are shown (so a page can come
    back short too)."""
    who = access.viewer(ctx)
    if project is not None:
        project = who.project_path(project)
    filters = {"session_id": session_id, "tool_name": tool, "type": type, "project": project}
    try:
        wanted = feed_search.words(search)
    except feed_search.SearchTooLong as exc:
        raise AppError({"code": "BadSearch", "message": str(exc)}) from exc
    if wanted:
        found = feed_search.query(ctx, who.owner, wanted, filters, lambda doc: _shown(who, doc))
        result = found.paginate(_page_opts(paginationOpts, not who.owner))
        return _listing_page(who.visible_page("events", result))
    given = {field: value for field, value in filters.items() if value is not None}
    index = next(iter(given), None)
    names = {"session_id": "by_session_time", "tool_name": "by_tool_time"}
    names |= {"type": "by_type_time", "project": "by_project_time"}
    if index is None:
        q = ctx.db.query("events").with_index("by_time")
    else:
        value = given.pop(index)
        q = ctx.db.query("events").with_index(names[index], lambda r: r.eq(index, value))
    for field, value in given.items():
        if field != "tool_name" or who.owner:
            q = q.filter(lambda doc, f=field, x=value: doc.get(f) == x)
    if not who.owner:
        q = q.filter(lambda doc: _shown(who, doc) and _shown_tool(doc, tool))
    scan = bool(given or not who.owner)
    result = q.order("desc").paginate(_page_opts(paginationOpts, scan))
    return _listing_page(who.visible_page("events", result))


def _shown(who: access.Viewer, doc: dict[str, Any]) -> bool:
    """Whether the caller may see ``doc`` at all (the public: a public project's event with a
    current redacted copy)."""
    return who.owner or (who.sees("events", doc) and redacted.is_ready("events", doc))


def _shown_tool(doc: dict[str, Any], tool: str | None) -> bool:
    """Whether the public's tool filter matches an event as the public sees it (its redacted
    tool name, never the text it hides)."""
    return tool is None or redacted.shown_fields(doc).get("tool_name") == tool


def _listing_page(result: dict[str, Any]) -> dict[str, Any]:
    """A page as shown, without ``raw`` (nor the redacted copy: the public got its fields)."""
    return {**result, "page": _listing(result["page"])}


@query
def session_timeline(ctx, session_id: str, paginationOpts: PaginationOptions) -> dict[str, Any]:
    """A session's events in the order they happened."""
    who = access.viewer(ctx)
    result = (
        ctx.db.query("events")
        .with_index("by_session_time", lambda q: q.eq("session_id", session_id))
        .paginate(_page_opts(paginationOpts, False))
    )
    return _listing_page(who.visible_page("events", result))


@query
def get(ctx, event_id: str) -> dict[str, Any] | None:
    """One event by its ``event_id``, with ``raw`` (large fields as previews; ``blobs`` names
    where the full values are)."""
    return access.viewer(ctx).visible_one("events", find(ctx, event_id))


@internal_mutation
def refresh_redacted(ctx, batch: float = REFRESH_BATCH) -> int:
    """Store a current redacted copy (``redacted.py``) in the events, then the sessions and
    tool calls, that have none or one made by older rules (stored before copies existed, or
    before the rules changed; the public is not shown them until then): at most ``batch`` a
    run, scheduling the next run at once while there may be more. Run by a cron every minute
    and whenever a project is made public. Returns how many documents it refreshed."""
    budget = max(1, int(batch))
    done = 0
    for table in ("events", "sessions", "tool_calls"):
        stale = (
            ctx.db.query(table)
            .with_index("by_redaction", lambda q: q.lt("redacted.v", redacted.VERSION))
            .take(budget - done)
        )
        for doc in stale:
            ctx.db.patch(doc["_id"], {redacted.FIELD: _fresh_copy(ctx, table, doc)})
        done += len(stale)
        if done == budget:
            ctx.scheduler.run_after(0, "events:refresh_redacted", {"batch": float(budget)})
            break
    return done


def _fresh_copy(ctx: Any, table: str, doc: dict[str, Any]) -> dict[str, Any]:
    if table == "events":
        return redacted.event_view(doc)
    if table == "sessions":
        latest = (
            ctx.db.query("events")
            .with_index("by_session_time", lambda q: q.eq("session_id", doc["session_id"]))
            .order("desc")
            .first()
        )
        return redacted.session_copy(doc, latest)
    pre = ctx.db.get(doc["pre_event"]) if doc.get("pre_event") else None
    post = ctx.db.get(doc["post_event"]) if doc.get("post_event") else None
    return redacted.tool_call_copy(doc, pre, post)
