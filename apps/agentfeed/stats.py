"""Per-day activity counts: one ``daily`` row per UTC day and project (``""``: no project), kept
by every ingested event, so ``daily_counts`` reads a few rows per day instead of the events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from livebase import query

from . import access
from .normalize import day_of

COUNTERS = ("events", "prompts", "tool_calls", "failures", "sessions")
MAX_DAYS = 366


def apply_event(ctx: Any, event: dict[str, Any], new_session: bool) -> None:
    """Count the event in its day's row, in the ingesting transaction."""
    day, project = day_of(event["timestamp"]), event.get("project") or ""
    delta = {
        "events": 1.0,
        "prompts": 1.0 if event["type"] == "UserPromptSubmit" else 0.0,
        "tool_calls": 1.0 if event["type"] in ("PostToolUse", "PostToolUseFailure") else 0.0,
        "failures": 1.0 if event.get("success") is False else 0.0,
        "sessions": 1.0 if new_session else 0.0,
    }
    row = (
        ctx.db.query("daily")
        .with_index("by_project_day", lambda q: q.eq("project", project).eq("day", day))
        .unique()
    )
    if row is None:
        ctx.db.insert("daily", {"day": day, "project": project, **delta})
    else:
        ctx.db.patch(row["_id"], {name: row[name] + delta[name] for name in COUNTERS})


@query
def daily_counts(ctx, days: float = 30, project: str | None = None) -> list[dict[str, Any]]:
    """The last ``days`` UTC days up to today, oldest first, each ``{day, events, prompts,
    tool_calls, failures, sessions}`` (zeros for quiet days), for one project or all (that the
    caller may see)."""
    who = access.viewer(ctx)
    if project is not None:
        project = who.project_path(project)
    count = max(1, min(int(days), MAX_DAYS))
    today = datetime.fromtimestamp(ctx.now / 1000, UTC).date()
    all_days = [(today - timedelta(days=n)).isoformat() for n in range(count - 1, -1, -1)]
    if project is None:
        rows = ctx.db.query("daily").with_index("by_day", lambda q: q.gte("day", all_days[0]))
    else:
        rows = ctx.db.query("daily").with_index(
            "by_project_day", lambda q: q.eq("project", project).gte("day", all_days[0])
        )
    totals = {day: dict.fromkeys(COUNTERS, 0.0) for day in all_days}
    for row in who.visible("daily", rows.collect()):
        if row["day"] in totals:
            for name in COUNTERS:
                totals[row["day"]][name] += row[name]
    return [{"day": day, **totals[day]} for day in all_days]
