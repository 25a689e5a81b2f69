"""What the page's overview shows: the latest sessions as cards (``overview:sessions``: status,
duration, tokens and cost, and for the owner the guessed intent of the activity session that holds
each one) and the last days' activity and cost (``overview:days``, for the charts).

Tokens and cost come from what is stored already: a session's ``telemetry`` totals (Claude Code's
OTLP export, ``telemetry.py``), else its transcript import (``tokens``, ``cost_usd``). A day's cost
is the sum of the ``claude_code.api_request`` records of that UTC day, the public counting only
those of sessions it may see.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from livebase import query

from . import access, stats
from .normalize import day_of
from .sessions import find
from .telemetry import API_REQUEST

CARDS_LIMIT = 50
INTENT_SCAN = 100
"""Activity sessions read to find the intents of the cards (the latest ones: cards are recent)."""
DAYS_LIMIT = 60
RECORDS_LIMIT = 20_000
"""Telemetry records read for the cost chart, at most (a heavy day has a few thousand)."""


def _usage(session: dict[str, Any]) -> dict[str, Any] | None:
    """``{tokens, cost_usd, source}`` from telemetry, else from the transcript import."""
    t = session.get("telemetry")
    tokens = t["tokens"] if t else session.get("tokens")
    total = sum(tokens.values()) if tokens else 0.0
    cost = t["cost_usd"] if t else session.get("cost_usd")
    if not total and cost is None:
        return None
    return {"tokens": total, "cost_usd": cost, "source": "telemetry" if t else "transcript"}


def _intents(ctx: Any) -> dict[str, dict[str, Any]]:
    """Claude Code session id -> the intent of the latest activity session holding it."""
    found: dict[str, dict[str, Any]] = {}
    latest = ctx.db.query("activity_sessions").with_index("by_last").order("desc").take(INTENT_SCAN)
    for doc in latest:
        intent = {
            "text": doc["guessed_intent"],
            "confidence": doc["confidence"],
            "source": doc["intent_source"],
            "needs_validation": doc["needs_validation"],
        }
        for session_id in doc["agent_sessions"]:
            found.setdefault(session_id, intent)
    return found


@query
def sessions(ctx, limit: float = 12) -> list[dict[str, Any]]:
    """The sessions with the latest activity first (active or ended), at most ``limit``; each as
    ``sessions:session`` returns it plus ``duration_ms``, ``usage`` (``{tokens, cost_usd,
    source}`` or null) and ``intent`` (the owner's only: ``{text, confidence, source,
    needs_validation}`` or null)."""
    who = access.viewer(ctx)
    count = max(1, min(int(limit), CARDS_LIMIT))
    rows: list[dict[str, Any]] = []
    for status in ("active", "ended"):
        rows += (
            ctx.db.query("sessions")
            .with_index("by_status_activity", lambda q, s=status: q.eq("status", s))
            .order("desc")
            .take(count)
        )
    rows.sort(key=lambda doc: doc["last_event_at"], reverse=True)
    intents = _intents(ctx) if who.owner else {}
    cards = []
    for doc in who.visible("sessions", rows)[:count]:
        end = doc.get("ended_at", doc["last_event_at"])
        intent = intents.get(doc["session_id"])
        cards.append(
            {
                **doc,
                "duration_ms": max(0.0, end - doc["started_at"]),
                "usage": _usage(doc),
                "intent": intent,
            }
        )
    return cards


@query
def days(ctx, days: float = 14) -> list[dict[str, Any]]:
    """The last ``days`` UTC days up to today, oldest first: ``stats:daily_counts``'s counts
    plus ``cost_usd`` and ``tokens`` of that day's API requests (telemetry)."""
    who = access.viewer(ctx)
    count = max(1, min(int(days), DAYS_LIMIT))
    counted = stats.daily_counts.fn(ctx, days=count)
    today = datetime.fromtimestamp(ctx.now / 1000, UTC)
    first = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=count - 1)
    records = (
        ctx.db.query("telemetry")
        .with_index("by_time", lambda q: q.gte("timestamp", first.timestamp() * 1000))
        .take(RECORDS_LIMIT)
    )
    cost = {row["day"]: 0.0 for row in counted}
    tokens = dict.fromkeys(cost, 0.0)
    seen: dict[str, bool] = {}
    for record in records:
        if record["name"] != API_REQUEST or not _sees(ctx, who, record, seen):
            continue
        day = day_of(record["timestamp"])
        if day in cost:
            cost[day] += record.get("cost_usd") or 0.0
            tokens[day] += sum((record.get("tokens") or {}).values())
    return [{**row, "cost_usd": cost[row["day"]], "tokens": tokens[row["day"]]} for row in counted]


def _sees(ctx: Any, who: access.Viewer, record: dict[str, Any], seen: dict[str, bool]) -> bool:
    """Whether the caller may count this record (the public: a visible session's only)."""
    if who.owner:
        return True
    session_id = record.get("session_id")
    if not session_id:
        return False
    if session_id not in seen:
        seen[session_id] = who.visible_one("sessions", find(ctx, session_id)) is not None
    return seen[session_id]
