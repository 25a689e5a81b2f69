"""Transcript import (``agentfeed import-transcripts``): the server side.

``POST /import/events`` takes ``{"events": [payload, ...]}``: hook-like payloads built from
transcripts (deterministic ``event_id``s, ``agentfeed_origin: "transcript"``, and a
``match_window: [from, to]`` in ms). Each is first checked against what the live hook already
stored (``covered``): a tool event whose ``tool_use_id`` already has that side of its tool call
(``pre_event`` for ``PreToolUse``, ``post_event`` for the others) from a hook event, or a prompt
or stop of the same type in the same session within ``match_window`` from a hook event, is not
stored again. The others go through the same ingestion as ``POST /event`` (``intake.receive``),
so they are idempotent on their ``event_id``. Answer: counts per outcome.

``POST /import/usage`` takes ``{"sessions": [usage, ...]}`` (``set_usage``): it SETS a session's
``tokens``, per-model ``usage``, ``cost_usd`` and ``imported_at`` from the transcript (a second
import gives the same totals), creates the session if no event made it (ended, times from the
transcript), and ends an active session whose transcript and events are older than the idle
timeout (reason ``transcript``), as the idle cron would.

Both need the key like ``POST /event``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse, Response

from livebase import internal_mutation, internal_query

from . import intake, redacted, settings
from . import sessions as session_table
from .normalize import project_path

IMPORTED_PREFIX = "transcript:"
TOOL_TYPES = ("PreToolUse", "PostToolUse", "PostToolUseFailure")
MAX_BATCH = 500


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": f"missing or wrong {settings.KEY_HEADER} header"}, status_code=401
    )


async def _items(request: Any, key: str) -> list[Any] | JSONResponse:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        return JSONResponse({"error": f"the body is not JSON: {exc}"}, status_code=400)
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) > MAX_BATCH:
        message = f"expected {{{key!r}: [...]}} with at most {MAX_BATCH} items"
        return JSONResponse({"error": message}, status_code=400)
    return items


async def import_events(ctx: Any, request: Any) -> Response:
    """``POST /import/events``: ``{stored, duplicate, covered, rejected, reasons}``."""
    if not settings.authorized(request.headers.get(settings.KEY_HEADER)):
        return _unauthorized()
    items = await _items(request, "events")
    if isinstance(items, JSONResponse):
        return items
    payloads = [p for p in items if isinstance(p, dict)]
    counts = {"stored": 0, "duplicate": 0, "covered": 0, "rejected": len(items) - len(payloads)}
    reasons: list[str] = []
    probes = [_probe(p) for p in payloads]
    covered: list[bool] = await ctx.run_query("transcripts:covered", {"events": probes})
    for payload, is_covered in zip(payloads, covered, strict=True):
        if is_covered:
            counts["covered"] += 1
            continue
        payload.pop("match_window", None)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        result = await intake.receive(ctx, "event", body)
        counts[result["status"]] = counts.get(result["status"], 0) + 1
        if result["status"] == "rejected" and len(reasons) < 10:
            reasons.append(str(result.get("reason")))
    return JSONResponse({**counts, "reasons": reasons})


def _probe(payload: dict[str, Any]) -> dict[str, Any]:
    """What ``covered`` needs of a payload (all optional: a bad payload is simply not covered)."""
    probe: dict[str, Any] = {}
    for key in ("session_id", "hook_event_name", "tool_use_id"):
        if isinstance(payload.get(key), str):
            probe[key] = payload[key]
    window = payload.get("match_window")
    if (
        isinstance(window, list)
        and len(window) == 2
        and all(isinstance(x, int | float) and not isinstance(x, bool) for x in window)
    ):
        probe["window"] = [float(window[0]), float(window[1])]
    return probe


def _is_hook_event(ctx: Any, doc_id: Any) -> bool:
    event = ctx.db.get(doc_id) if doc_id is not None else None
    return event is not None and not event["event_id"].startswith(IMPORTED_PREFIX)


@internal_query
def covered(ctx, events: list[dict[str, Any]]) -> list[bool]:
    """For each probe, whether the live hook already stored that event (see the module doc)."""
    answers: list[bool] = []
    for probe in events:
        kind, session_id = probe.get("hook_event_name"), probe.get("session_id")
        use_id, window = probe.get("tool_use_id"), probe.get("window")
        if kind in TOOL_TYPES and isinstance(use_id, str):
            call = (
                ctx.db.query("tool_calls")
                .with_index("by_tool_use_id", lambda q, u=use_id: q.eq("tool_use_id", u))
                .first()
            )
            side = "pre_event" if kind == "PreToolUse" else "post_event"
            answers.append(call is not None and _is_hook_event(ctx, call.get(side)))
            continue
        if not isinstance(session_id, str) or not isinstance(window, list):
            answers.append(False)
            continue
        start, end = window
        nearby = (
            ctx.db.query("events")
            .with_index(
                "by_session_time",
                lambda q, s=session_id, a=start, b=end: (
                    q.eq("session_id", s).gte("timestamp", a).lte("timestamp", b)
                ),
            )
            .take(200)
        )
        answers.append(
            any(e["type"] == kind and not e["event_id"].startswith(IMPORTED_PREFIX) for e in nearby)
        )
    return answers


async def import_usage(ctx: Any, request: Any) -> Response:
    """``POST /import/usage``: ``{updated, created, ended}``."""
    if not settings.authorized(request.headers.get(settings.KEY_HEADER)):
        return _unauthorized()
    items = await _items(request, "sessions")
    if isinstance(items, JSONResponse):
        return items
    docs = [item for item in items if isinstance(item, dict)]
    try:
        result = await ctx.run_mutation(
            "transcripts:set_usage",
            {"sessions": docs, "idle_minutes": settings.idle_minutes()},
        )
    except Exception as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        return JSONResponse({"error": message}, status_code=400)
    return JSONResponse(result)


def _number(value: object) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _tokens(value: object) -> dict[str, float]:
    source = value if isinstance(value, dict) else {}
    return {key: _number(source.get(key)) or 0.0 for key in session_table.ZERO_TOKENS}


def _usage_rows(value: object) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for row in value if isinstance(value, list) else []:
        if isinstance(row, dict) and isinstance(row.get("model"), str):
            rows.append(
                {
                    "model": row["model"],
                    **_tokens(row),
                    "requests": _number(row.get("requests")) or 0.0,
                    "cost_usd": _number(row.get("cost_usd")),
                }
            )
    return rows


@internal_mutation
def set_usage(ctx, sessions: list[dict[str, Any]], idle_minutes: float) -> dict[str, int]:
    """Set each session's token usage and cost from its transcript (see the module doc)."""
    counts = {"updated": 0, "created": 0, "ended": 0}
    idle_before = ctx.now - idle_minutes * 60_000
    for item in sessions:
        session_id = item.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            continue
        started, ended = _number(item.get("started_at")), _number(item.get("ended_at"))
        usage: dict[str, Any] = {
            "tokens": _tokens(item.get("tokens")),
            "usage": _usage_rows(item.get("usage")),
            "cost_usd": _number(item.get("cost_usd")),
            "imported_at": ctx.now,
        }
        found = session_table.find(ctx, session_id)
        if found is None:
            at = started if started is not None else ctx.now
            doc: dict[str, Any] = {
                "session_id": session_id,
                "source": "claude-code",
                "status": "ended",
                "started_at": at,
                "ended_at": ended if ended is not None else at,
                "end_reason": "transcript",
                "event_count": 0.0,
                "prompt_count": 0.0,
                "tool_count": 0.0,
                "last_event_at": ended if ended is not None else at,
                "last_received_at": ctx.now,
                "last_event_type": "transcript",
                "last_summary": "Imported from a transcript",
                **usage,
            }
            for key in ("cwd", "model", "transcript_path"):
                if isinstance(item.get(key), str):
                    doc[key] = item[key]
            if isinstance(item.get("cwd"), str):
                doc["project"] = project_path(item["cwd"])
            doc[redacted.FIELD] = redacted.follow(None, doc, new=True)
            ctx.db.insert("sessions", doc)
            counts["created"] += 1
            continue
        patch = dict(usage)
        for key in ("model", "transcript_path", "cwd"):
            if found.get(key) is None and isinstance(item.get(key), str):
                patch[key] = item[key]
        if started is not None and started < found["started_at"]:
            patch["started_at"] = started
        last = max(found["last_event_at"], ended if ended is not None else 0.0)
        if found["status"] == "active" and last < idle_before:
            patch.update(status="ended", ended_at=last, end_reason="transcript")
            counts["ended"] += 1
        patch[redacted.FIELD] = redacted.follow(found.get(redacted.FIELD), patch)
        ctx.db.patch(found["_id"], patch)
        counts["updated"] += 1
    return counts
