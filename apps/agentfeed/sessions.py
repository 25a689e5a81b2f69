"""Sessions: kept up to date by every ingested event, ended by ``SessionEnd`` or by the idle cron,
and the session queries.

Semantics (Claude Code hooks, reference §1.3): any event of an unknown session id creates it,
active. ``SessionEnd`` ends it (``/clear`` ends it with reason ``clear``; the new id that
follows starts a new session). ``SessionStart`` with ``resume`` or ``compact`` keeps the id, so
a later event — ``SessionStart`` or any other — re-activates an ended session, unless it is
older than the end (a late, out-of-order delivery). The project of a session is fixed by its
first event that names one (the root at session start, as ``CLAUDE_PROJECT_DIR``: it does not
follow ``cd``); ``cwd`` follows the latest event.

Activity from other sources (``POST /activity`` with a ``sessionId``) keeps sessions the same
way. Hooks carry no token counts: ``tokens`` stays at zero until a transcript import fills it.
Every write of a session's text fields also writes their redacted copy (``redacted.follow``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livebase import UNSET, internal_mutation, query

from . import access, redacted

ACTIVE_LIMIT = 200
IDLE_BATCH = 500
ZERO_TOKENS = {"input": 0.0, "output": 0.0, "cache_read": 0.0, "cache_creation": 0.0}


@dataclass
class Applied:
    """What an event did to its session: the session's project (the event's project is set
    from it), and whether the session is new or has just joined that project."""

    project: str | None
    joined_project: bool
    created: bool


def find(ctx: Any, session_id: str) -> dict[str, Any] | None:
    return (
        ctx.db.query("sessions")
        .with_index("by_session_id", lambda q: q.eq("session_id", session_id))
        .unique()
    )


def apply_event(ctx: Any, event: dict[str, Any]) -> Applied | None:
    """Update (or create) the event's session, in the ingesting transaction."""
    session_id = event.get("session_id")
    if session_id is None:
        return None
    kind, ts = event["type"], event["timestamp"]
    is_start, is_end = kind == "SessionStart", kind == "SessionEnd"
    prompts = 1.0 if kind == "UserPromptSubmit" else 0.0
    tools = 1.0 if kind in ("PostToolUse", "PostToolUseFailure") else 0.0
    session = find(ctx, session_id)
    if session is None:
        doc: dict[str, Any] = {
            "session_id": session_id,
            "source": event["source"],
            "status": "ended" if is_end else "active",
            "started_at": ts,
            "event_count": 1.0,
            "prompt_count": prompts,
            "tool_count": tools,
            "last_event_at": ts,
            "last_received_at": ctx.now,
            "last_event_type": kind,
            "last_summary": event["summary"],
            "tokens": dict(ZERO_TOKENS),
        }
        if is_end:
            doc["ended_at"] = ts
            _put(doc, "end_reason", event.get("subtype"))
        if is_start:
            _put(doc, "start_source", event.get("subtype"))
        for key in ("cwd", "project", "model", "transcript_path"):
            _put(doc, key, event.get(key))
        _put(doc, "telemetry", _telemetry_so_far(ctx, session_id))
        doc[redacted.FIELD] = redacted.follow(None, doc, event, new=True)
        ctx.db.insert("sessions", doc)
        project = event.get("project")
        return Applied(project, project is not None, True)

    patch: dict[str, Any] = {
        "event_count": session["event_count"] + 1,
        "prompt_count": session["prompt_count"] + prompts,
        "tool_count": session["tool_count"] + tools,
        "last_received_at": ctx.now,
        "started_at": min(session["started_at"], ts),
    }
    if ts >= session["last_event_at"]:
        patch.update(last_event_at=ts, last_event_type=kind, last_summary=event["summary"])
        _put(patch, "cwd", event.get("cwd"))
    for key in ("model", "transcript_path"):
        _put(patch, key, event.get(key))
    if is_start:
        _put(patch, "start_source", event.get("subtype"))
    if is_end:
        patch.update(status="ended", ended_at=ts, end_reason=event.get("subtype") or UNSET)
    elif session["status"] == "ended" and ts > session.get("ended_at", ts):
        patch.update(status="active", ended_at=UNSET, end_reason=UNSET)
    project = session.get("project")
    joined = project is None and event.get("project") is not None
    if joined:
        project = event["project"]
        patch["project"] = project
    patch[redacted.FIELD] = redacted.follow(session.get(redacted.FIELD), patch, event)
    ctx.db.patch(session["_id"], patch)
    return Applied(project, joined, False)


def _telemetry_so_far(ctx: Any, session_id: str) -> dict[str, Any] | None:
    """The totals of telemetry that came before the session's first event (``telemetry.py``)."""
    row = (
        ctx.db.query("usage")
        .with_index("by_scope_key", lambda q: q.eq("scope", "session").eq("key", session_id))
        .unique()
    )
    if row is None:
        return None
    keep = ("requests", "tokens", "cost_usd", "api_duration_ms")
    return {**{key: row[key] for key in keep}, "updated_at": ctx.now}


def _put(doc: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        doc[key] = value


@internal_mutation
def end_idle(ctx, idle_minutes: float) -> int:
    """End active sessions that have received nothing for ``idle_minutes`` (reason ``idle``);
    run by a cron. Returns how many it ended."""
    cutoff = ctx.now - idle_minutes * 60_000
    idle = (
        ctx.db.query("sessions")
        .with_index(
            "by_status_activity", lambda q: q.eq("status", "active").lt("last_received_at", cutoff)
        )
        .take(IDLE_BATCH)
    )
    for session in idle:
        patch = {"status": "ended", "ended_at": session["last_event_at"], "end_reason": "idle"}
        patch[redacted.FIELD] = redacted.follow(session.get(redacted.FIELD), patch)
        ctx.db.patch(session["_id"], patch)
    return len(idle)


@query
def active_sessions(ctx) -> list[dict[str, Any]]:
    """Active sessions, the most recently active first."""
    who = access.viewer(ctx)
    rows = (
        ctx.db.query("sessions")
        .with_index("by_status_activity", lambda q: q.eq("status", "active"))
        .order("desc")
        .take(ACTIVE_LIMIT)
    )
    return who.visible("sessions", rows)


@query
def session(ctx, session_id: str) -> dict[str, Any] | None:
    """One session by its id."""
    return access.viewer(ctx).visible_one("sessions", find(ctx, session_id))
