"""Projects, keyed by path: created by the first event naming one, counters kept by every
ingested event; the project queries, and ``update`` to set a name, description or public flag.

A project's name defaults to the last component of its path; ``public`` is false and the
description empty until the owner sets them (``update`` needs the owner key; see ``access.py``).
"""

from __future__ import annotations

from typing import Any

from livebase import AppError, mutation, query

from . import access
from .normalize import project_name

PROJECTS_LIMIT = 500
ACTIVE_PER_PROJECT_LIMIT = 200


def find(ctx: Any, path: str) -> dict[str, Any] | None:
    return ctx.db.query("projects").with_index("by_path", lambda q: q.eq("path", path)).unique()


def apply_event(ctx: Any, event: dict[str, Any], new_session: bool) -> None:
    """Count the event (and the session it brought, if new to the project) in its project."""
    path = event.get("project")
    if path is None:
        return
    ts = event["timestamp"]
    prompts = 1.0 if event["type"] == "UserPromptSubmit" else 0.0
    tools = 1.0 if event["type"] in ("PostToolUse", "PostToolUseFailure") else 0.0
    sessions = 1.0 if new_session else 0.0
    project = find(ctx, path)
    if project is None:
        ctx.db.insert(
            "projects",
            {
                "path": path,
                "name": project_name(path),
                "description": "",
                "public": False,
                "first_event_at": ts,
                "last_event_at": ts,
                "event_count": 1.0,
                "session_count": sessions,
                "prompt_count": prompts,
                "tool_count": tools,
            },
        )
        return
    ctx.db.patch(
        project["_id"],
        {
            "first_event_at": min(project["first_event_at"], ts),
            "last_event_at": max(project["last_event_at"], ts),
            "event_count": project["event_count"] + 1,
            "session_count": project["session_count"] + sessions,
            "prompt_count": project["prompt_count"] + prompts,
            "tool_count": project["tool_count"] + tools,
        },
    )


@mutation
def update(
    ctx,
    path: str,
    name: str | None = None,
    description: str | None = None,
    public: bool | None = None,
) -> None:
    """Set a project's name, description or public flag (the fields given); only the owner
    may (``Forbidden`` otherwise). Making a project public rewrites none of its events (each
    has its redacted copy already); it starts ``events:refresh_redacted`` at once for any
    document still without a current one (the public is not shown those)."""
    access.require_owner(ctx)
    project = find(ctx, path)
    if project is None:
        raise AppError({"code": "NotFound", "path": path})
    changes = {"name": name, "description": description, "public": public}
    ctx.db.patch(project["_id"], {k: value for k, value in changes.items() if value is not None})
    if public is True and project["public"] is not True:
        ctx.scheduler.run_after(0, "events:refresh_redacted", {})


@query
def projects_with_stats(ctx) -> list[dict[str, Any]]:
    """Projects, the most recently active first, each with its counters and
    ``active_sessions`` (how many of its sessions are active now)."""
    who = access.viewer(ctx)
    rows = ctx.db.query("projects").with_index("by_last_event").order("desc")
    if not who.owner:
        rows = rows.filter(lambda doc: doc["public"] is True)
    shown = [row for row in rows.take(PROJECTS_LIMIT) if who.sees("projects", row)]
    counted = [{**row, "active_sessions": _active_sessions(ctx, row["path"])} for row in shown]
    return who.visible("projects", counted)


def _active_sessions(ctx: Any, path: str) -> float:
    sessions = (
        ctx.db.query("sessions")
        .with_index("by_project_status", lambda q: q.eq("project", path).eq("status", "active"))
        .take(ACTIVE_PER_PROJECT_LIMIT)
    )
    return float(len(sessions))


@query
def project(ctx, path: str) -> dict[str, Any] | None:
    """One project by its path (the public may give it as shown, ``~/app``)."""
    who = access.viewer(ctx)
    return who.visible_one("projects", find(ctx, who.project_path(path)))
