"""What a sink sends: events shaped for leaving the machine, and the summary state the MQTT
sink publishes for Home Assistant's sensors (internal queries the sink process calls).

The owner chooses per project what leaves (``sinks/state:set_forward``; ``tables.py``):

- ``off``: nothing (the event is skipped: counted, not sent);
- ``metadata`` (default): ids, source, type, times, session, project (home directory
  shortened), tool name, success, duration, model and the summary — the summary always
  redacted (``redact.py``), whatever the project, since it quotes commands and prompts;
- ``content``: that plus the prompt, the tool input and response excerpts and the error; for a
  public project from the event's redacted copy (``redacted.py``), for a private one as stored.

Large content never leaves: records carry ``raw_ref``, the ``/raw/<event_id>`` path where the
owner reads the whole payload.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from livebase import internal_query, v

from .. import redact, redacted
from ..normalize import day_of
from .state import forward_level

METADATA = (
    "source", "subtype", "session_id", "tool_name", "tool_use_id", "prompt_id", "agent_id",
    "success", "interrupted", "duration_ms", "model",
)  # fmt: skip
CONTENT = ("prompt", "tool_input", "tool_response", "error")
ACTIVE_LIMIT = 1000
TELEMETRY_LIMIT = 20000
INTENT_SCAN = 200
INTENT_CHARS = 240


def _project_public(ctx: Any, path: str | None, cache: dict[str, bool]) -> bool:
    if path is None:
        return False
    if path not in cache:
        doc = ctx.db.query("projects").with_index("by_path", lambda q: q.eq("path", path)).unique()
        cache[path] = doc is not None and doc["public"] is True
    return cache[path]


def shape(doc: dict[str, Any], level: str, public: bool) -> dict[str, Any]:
    """One stored event as it leaves the machine at forwarding ``level`` (not ``off``)."""
    copy = redacted.event_view(doc)
    record: dict[str, Any] = {
        "doc": doc["_id"],
        "id": doc["event_id"],
        "type": doc["type"],
        "timestamp": doc["timestamp"],
        "received_at": doc["received_at"],
        "summary": copy.get("summary") or redact.redact_text(doc["summary"]),
        "public": public,
        "forward": level,
        "raw_ref": "/raw/" + quote(doc["event_id"], safe=""),
    }
    for key in METADATA:
        if doc.get(key) is not None:
            record[key] = copy[key] if public and isinstance(copy.get(key), str) else doc[key]
    project = doc.get("project")
    if project is not None:
        record["project"] = redact.shorten_home(project)
        record["project_name"] = redact.shorten_home(project).rstrip("/\\").rsplit("/", 1)[-1]
    if level == "content":
        for key in CONTENT:
            if doc.get(key) is not None:
                record[key] = copy.get(key, "") if public else doc[key]
    return record


@internal_query
def outgoing(
    ctx, events: Annotated[list[str], v.array(v.id("events"))]
) -> list[dict[str, Any] | None]:
    """The records for these events, in the order given: None where nothing may leave (the
    project's level is ``off``, or the event is gone)."""
    levels: dict[str | None, str] = {}
    public: dict[str, bool] = {}
    out: list[dict[str, Any] | None] = []
    for event in events:
        doc = ctx.db.get(event)
        if doc is None:
            out.append(None)
            continue
        project = doc.get("project")
        if project not in levels:
            levels[project] = forward_level(ctx, project)
        level = levels[project]
        if level == "off":
            out.append(None)
            continue
        out.append(shape(doc, level, _project_public(ctx, project, public)))
    return out


def _current_intent(ctx: Any, session: dict[str, Any] | None) -> str:
    """What the work is about now, redacted, and empty when its project forwards nothing: the
    guessed intent of the latest active activity session (the observation pipeline's), else
    the latest prompt's summary of the newest active agent session."""
    activity = (
        ctx.db.query("activity_sessions")
        .with_index("by_status_last", lambda q: q.eq("status", "active"))
        .order("desc")
        .first()
    )
    if activity is not None and forward_level(ctx, activity["project"] or None) != "off":
        return redact.redact_text(activity["guessed_intent"], limit=INTENT_CHARS)
    if session is None or forward_level(ctx, session.get("project")) == "off":
        return ""
    rows = (
        ctx.db.query("events")
        .with_index("by_session_time", lambda q: q.eq("session_id", session["session_id"]))
        .order("desc")
        .take(INTENT_SCAN)
    )
    prompt = next((row for row in rows if row["type"] == "UserPromptSubmit"), None)
    if prompt is None:
        return ""
    summary = redacted.event_view(prompt).get("summary") or ""
    return str(summary)[:INTENT_CHARS]


@internal_query
def home_state(ctx) -> dict[str, Any]:
    """The numbers Home Assistant's sensors show: ``active_sessions``, ``events_today`` and
    ``cost_today_usd`` (UTC day; cost from Claude Code's telemetry), ``current_intent``
    (``_current_intent``),
    ``current_project`` and ``last_event_at`` (ISO 8601, or None)."""
    active = (
        ctx.db.query("sessions")
        .with_index("by_status_activity", lambda q: q.eq("status", "active"))
        .order("desc")
        .take(ACTIVE_LIMIT)
    )
    today = day_of(ctx.now)
    events_today = sum(
        row["events"]
        for row in ctx.db.query("daily")
        .with_index("by_day", lambda q: q.eq("day", today))
        .collect()
    )
    midnight = datetime.strptime(today, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000
    cost = sum(
        row.get("cost_usd") or 0.0
        for row in ctx.db.query("telemetry")
        .with_index("by_time", lambda q: q.gte("timestamp", midnight))
        .take(TELEMETRY_LIMIT)
    )
    newest = active[0] if active else None
    latest = ctx.db.query("events").with_index("by_time").order("desc").first()
    last_at = None
    if latest is not None:
        last_at = datetime.fromtimestamp(latest["timestamp"] / 1000, UTC).isoformat()
    project = newest.get("project") if newest is not None else None
    return {
        "active_sessions": float(len(active)),
        "events_today": float(events_today),
        "cost_today_usd": round(cost, 4),
        "current_intent": _current_intent(ctx, newest),
        "current_project": redact.shorten_home(project).rsplit("/", 1)[-1] if project else "",
        "last_event_at": last_at,
    }
