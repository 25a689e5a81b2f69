"""Claude Code's OpenTelemetry export: the OTLP/HTTP receiver (``POST /v1/logs``,
``POST /v1/metrics``), the stored records and their join to sessions, prompts and tool calls.

Claude Code sends its events as OTLP log records and its counters as OTLP metrics when
``CLAUDE_CODE_ENABLE_TELEMETRY=1`` and the ``OTEL_*`` variables point at this server
(``agentfeed install-telemetry`` prints or writes them). ``otlp.py`` decodes a request (protobuf
or JSON, with the ``opentelemetry-proto`` definitions); ``ingest`` stores each record once
(``record_id``: a retried export is not counted twice) in ``telemetry``, and adds the tokens and
cost of every record that carries them (``claude_code.api_request``) to its ``usage`` rows:
one per session (``session.id``), per prompt (``prompt.id``) and per tool call
(``tool_use_id``), in the same transaction. A session known from its hook events also gets
the totals in its ``telemetry`` field (a session whose first hook event comes later gets them
when it is created), which is what the page shows.

Both routes need the ingest key (``X-Agentfeed-Key``, which ``OTEL_EXPORTER_OTLP_HEADERS``
carries). The records' attributes can hold the user's e-mail and account ids: only the owner
reads them (``telemetry:records``); the public gets a public session's numbers only.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

from starlette.responses import JSONResponse, Response

from livebase import PaginationOptions, internal_mutation, query

from . import access, blobs, otlp, payload, settings
from . import sessions as session_table
from .normalize import clip

log = logging.getLogger(__name__)

BATCH = 50
"""Records stored per mutation."""
API_REQUEST = "claude_code.api_request"
SESSION_RECORDS_LIMIT = 5000
ZERO = {"input": 0.0, "output": 0.0, "cache_read": 0.0, "cache_creation": 0.0}
FIELDS = (
    "session_id", "prompt_id", "tool_use_id", "request_id", "model", "metric_type", "value",
    "temporality", "cost_usd", "tokens", "duration_ms", "success", "distribution",
)  # fmt: skip


def _usage_row(ctx: Any, scope: str, key: str) -> dict[str, Any] | None:
    return (
        ctx.db.query("usage")
        .with_index("by_scope_key", lambda q: q.eq("scope", scope).eq("key", key))
        .unique()
    )


def _add_usage(ctx: Any, scope: str, key: str, record: dict[str, Any]) -> dict[str, Any]:
    tokens = record.get("tokens") or ZERO
    row = _usage_row(ctx, scope, key)
    at = record["timestamp"]
    model = record.get("model")
    if row is None:
        doc: dict[str, Any] = {
            "scope": scope,
            "key": key,
            "requests": 1.0,
            "tokens": {name: float(tokens.get(name, 0.0)) for name in ZERO},
            "cost_usd": float(record.get("cost_usd") or 0.0),
            "api_duration_ms": float(record.get("duration_ms") or 0.0),
            "models": [model] if model else [],
            "first_at": at,
            "last_at": at,
        }
        if record.get("session_id"):
            doc["session_id"] = record["session_id"]
        doc["_id"] = ctx.db.insert("usage", doc)
        return doc
    patch = {
        "requests": row["requests"] + 1,
        "tokens": {name: row["tokens"][name] + float(tokens.get(name, 0.0)) for name in ZERO},
        "cost_usd": row["cost_usd"] + float(record.get("cost_usd") or 0.0),
        "api_duration_ms": row["api_duration_ms"] + float(record.get("duration_ms") or 0.0),
        "first_at": min(row["first_at"], at),
        "last_at": max(row["last_at"], at),
    }
    if model and model not in row["models"] and len(row["models"]) < 20:
        patch["models"] = [*row["models"], model]
    ctx.db.patch(row["_id"], patch)
    return {**row, **patch}


def session_totals(usage: dict[str, Any], now: float) -> dict[str, Any]:
    """A session's ``telemetry`` field from its ``usage`` row."""
    return {
        "requests": usage["requests"],
        "tokens": dict(usage["tokens"]),
        "cost_usd": usage["cost_usd"],
        "api_duration_ms": usage["api_duration_ms"],
        "updated_at": now,
    }


def fold_into_new_session(ctx: Any, session_id: str) -> dict[str, Any] | None:
    """The ``telemetry`` field of a session being created, from telemetry that came first."""
    row = _usage_row(ctx, "session", session_id)
    return session_totals(row, ctx.now) if row is not None else None


@internal_mutation
def ingest(ctx, records: list[dict[str, Any]]) -> dict[str, float]:
    """Store decoded records (``otlp.py``): ``store_records`` in a transaction of its own."""
    return store_records(ctx, records)


def store_records(ctx: Any, records: list[dict[str, Any]]) -> dict[str, float]:
    """Store decoded records (``otlp.py``), each once; add the tokens and cost of those that
    carry them to their session's, prompt's and tool call's ``usage``. ``{stored,
    duplicate}``."""
    stored = duplicate = 0
    for record in records:
        found = (
            ctx.db.query("telemetry")
            .with_index("by_record_id", lambda q, r=record["record_id"]: q.eq("record_id", r))
            .first()
        )
        if found is not None:
            duplicate += 1
            continue
        doc = {
            "record_id": str(record["record_id"]),
            "signal": record["signal"],
            "name": str(record["name"]),
            "timestamp": float(record["timestamp"]),
            "received_at": ctx.now,
            "attributes": str(record.get("attributes", "{}")),
        }
        doc.update({key: record[key] for key in FIELDS if record.get(key) is not None})
        ctx.db.insert("telemetry", doc)
        stored += 1
        if record["signal"] != "log" or ("tokens" not in doc and "cost_usd" not in doc):
            continue
        for scope, field in (
            ("session", "session_id"),
            ("prompt", "prompt_id"),
            ("tool_call", "tool_use_id"),
        ):
            if doc.get(field):
                usage = _add_usage(ctx, scope, doc[field], doc)
                if scope == "session":
                    session = session_table.find(ctx, doc[field])
                    if session is not None:
                        totals = session_totals(usage, ctx.now)
                        ctx.db.patch(session["_id"], {"telemetry": totals})
    return {"stored": float(stored), "duplicate": float(duplicate)}


# -- HTTP ------------------------------------------------------------------------------------------


async def receive(ctx: Any, request: Any, signal: str) -> Response:
    """``POST /v1/logs`` (``signal`` ``log``) or ``POST /v1/metrics`` (``metric``). An export
    that cannot be read (400, 415) or stored (500) is kept for the owner in ``rejected_events``
    (``rejected.py``), who can re-ingest it; both statuses tell the exporter not to retry."""
    if not settings.authorized(request.headers.get(settings.KEY_HEADER)):
        return JSONResponse(
            {"code": 16, "message": f"missing or wrong {settings.KEY_HEADER} header"},
            status_code=401,
        )
    raw = await request.body()
    try:
        kind = otlp.media_type(request.headers.get("content-type"))
        body = otlp.decompress(raw, request.headers.get("content-encoding"))
        records = otlp.decode(signal, body, kind, time.time() * 1000)
    except otlp.BadRequest as exc:
        await _keep_rejected(ctx, request, signal, raw, str(exc))
        return JSONResponse({"code": 3, "message": str(exc)}, status_code=exc.status)
    try:
        for start in range(0, len(records), BATCH):
            await ctx.run_mutation("telemetry:ingest", {"records": records[start : start + BATCH]})
    except Exception as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.warning("storing an OTLP export (%s) failed: %s", signal, message)
        await _keep_rejected(ctx, request, signal, raw, f"ingestion failed: {message}")
        return JSONResponse(
            {"code": 13, "message": f"ingestion failed: {message}"}, status_code=500
        )
    content, media = otlp.response(kind, signal)
    return Response(content, media_type=media)


async def _keep_rejected(ctx: Any, request: Any, signal: str, raw: bytes, reason: str) -> None:
    """Keep an export as ``intake`` keeps a hook body: inline up to ``payload.BODY_EXCERPT``,
    all of it in a blob; a body that is not UTF-8 (protobuf, gzip) as base64."""
    export: dict[str, str] = {"content_type": request.headers.get("content-type") or ""}
    if request.headers.get("content-encoding"):
        export["content_encoding"] = request.headers["content-encoding"]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = base64.b64encode(raw).decode("ascii")
        export["body_encoding"] = "base64"
    refs: list[blobs.BlobRef] = []
    if len(text) > payload.BODY_EXCERPT:
        refs.append(await blobs.upload(ctx, "", "body", text))
    endpoint = "v1/logs" if signal == "log" else "v1/metrics"
    await ctx.run_mutation(
        "events:record_rejection",
        {
            "endpoint": endpoint,
            "reason": reason,
            "body": clip(text, payload.BODY_EXCERPT),
            "body_bytes": float(len(raw)),
            "blobs": refs,
            "export": export,
        },
    )


# -- queries ---------------------------------------------------------------------------------------


def _shown_usage(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("scope", "key", "session_id", "requests", "tokens", "cost_usd", "api_duration_ms")
    shown = {key: row[key] for key in keep if key in row}
    shown.update(models=list(row["models"]), first_at=row["first_at"], last_at=row["last_at"])
    return shown


def _metric_totals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Metric points summed per (name, type, model): deltas added up; a cumulative series
    (same attributes) counts with its latest value."""
    latest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    totals: dict[tuple[str, str, str], float] = {}
    for row in rows:
        key = (row["name"], row.get("metric_type", ""), row.get("model", ""))
        if row.get("temporality") == "delta":
            totals[key] = totals.get(key, 0.0) + row.get("value", 0.0)
        else:
            series = (*key, row["attributes"])
            if series not in latest or row["timestamp"] >= latest[series]["timestamp"]:
                latest[series] = row
    for series, row in latest.items():
        key = series[:3]
        totals[key] = totals.get(key, 0.0) + row.get("value", 0.0)
    return [
        {"name": name, "type": kind or None, "model": model or None, "value": value}
        for (name, kind, model), value in sorted(totals.items())
    ]


@query
def session_usage(ctx, session_id: str) -> dict[str, Any] | None:
    """A session's telemetry: ``{session: usage | null, prompts: [usage], tool_calls:
    [usage], metrics: [{name, type, model, value}]}``; None when the session is not visible
    to the caller (the public: a public project's session) or has no telemetry. Numbers and
    ids only."""
    who = access.viewer(ctx)
    session = session_table.find(ctx, session_id)
    if not who.owner and (session is None or who.visible_one("sessions", session) is None):
        return None
    rows = (
        ctx.db.query("telemetry")
        .with_index("by_session_time", lambda q: q.eq("session_id", session_id))
        .take(SESSION_RECORDS_LIMIT)
    )
    own = _usage_row(ctx, "session", session_id)
    if own is None and not rows:
        return None
    scoped: dict[str, list[dict[str, Any]]] = {"prompt": [], "tool_call": []}
    for scope, field in (("prompt", "prompt_id"), ("tool_call", "tool_use_id")):
        keys = sorted({row[field] for row in rows if row.get(field)})
        for key in keys:
            usage = _usage_row(ctx, scope, key)
            if usage is not None:
                scoped[scope].append(_shown_usage(usage))
    return {
        "session": _shown_usage(own) if own is not None else None,
        "prompts": scoped["prompt"],
        "tool_calls": scoped["tool_call"],
        "metrics": _metric_totals([row for row in rows if row["signal"] == "metric"]),
    }


@query
def records(
    ctx, paginationOpts: PaginationOptions, session_id: str | None = None
) -> dict[str, Any]:
    """The telemetry records as received, newest first, with their attributes (owner only:
    the public gets an empty page)."""
    if not access.is_owner(ctx):
        return {"page": [], "isDone": True, "continueCursor": ""}
    opts = {**paginationOpts, "numItems": min(paginationOpts["numItems"], 200)}
    if session_id is None:
        q = ctx.db.query("telemetry").with_index("by_time")
    else:
        q = ctx.db.query("telemetry").with_index(
            "by_session_time", lambda r: r.eq("session_id", session_id)
        )
    result: dict[str, Any] = q.order("desc").paginate(opts)
    return result
