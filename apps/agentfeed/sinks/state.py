"""The sinks' state in the database: each sink's cursor and counters, its dead letters, and the
owner's per-project forwarding choice, with the owner's view of them for the page.

The sink process (``agentfeed sinks``, ``src/agentfeed/sinks``) calls the internal functions
with the admin key. ``advance`` moves a sink's cursor and files the batch's dead letters in one
transaction, so a crash leaves either both or neither: an event is never both skipped and
missing from the dead letters. The owner sees ``status`` and calls ``replay`` (dead letters go
back to their sink, which sends them again and deletes those that get through) and
``set_forward``; the public gets nothing from here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from livebase import UNSET, AppError, internal_mutation, internal_query, mutation, query, v

from .. import access
from ..normalize import clip
from .tables import DEFAULT_FORWARD, FORWARD_LEVELS

ERROR_CHARS = 500
REPLAY_BATCH = 500
RECENT_DEAD_LETTERS = 5
PROJECTS_LIMIT = 500

DEAD_LETTER = v.object(
    {"event": v.id("events"), "event_id": v.string(), "error": v.string(), "attempts": v.number()}
)


def _state(ctx: Any, sink: str) -> dict[str, Any] | None:
    return ctx.db.query("sink_state").with_index("by_sink", lambda q: q.eq("sink", sink)).unique()


def forward_level(ctx: Any, project: str | None) -> str:
    """What the owner lets leave the machine for ``project`` (``tables.FORWARD_LEVELS``)."""
    if project is None:
        return DEFAULT_FORWARD
    row = (
        ctx.db.query("sink_projects")
        .with_index("by_project", lambda q: q.eq("project", project))
        .unique()
    )
    return str(row["forward"]) if row is not None else DEFAULT_FORWARD


@internal_mutation
def started(ctx, sink: str, cursor: str) -> str:
    """At a sink's start: its saved cursor, or ``cursor`` (where "now" is) saved as its first."""
    row = _state(ctx, sink)
    if row is not None and row.get("cursor"):
        ctx.db.patch(row["_id"], {"started_at": ctx.now, "updated_at": ctx.now})
        return str(row["cursor"])
    if row is not None:
        ctx.db.patch(row["_id"], {"cursor": cursor, "started_at": ctx.now, "updated_at": ctx.now})
        return cursor
    ctx.db.insert(
        "sink_state",
        {
            "sink": sink,
            "cursor": cursor,
            "delivered": 0.0,
            "skipped": 0.0,
            "dead_lettered": 0.0,
            "replayed": 0.0,
            "started_at": ctx.now,
            "updated_at": ctx.now,
        },
    )
    return cursor


@internal_mutation
def advance(
    ctx,
    sink: str,
    cursor: str,
    delivered: float,
    skipped: float,
    last_event_at: float | None = None,
    dead: Annotated[list[dict[str, Any]], v.array(DEAD_LETTER)] = [],  # noqa: B006
) -> None:
    """After a batch: the sink's new cursor, its counters, and its dead letters, together."""
    row = _state(ctx, sink)
    if row is None:
        raise AppError({"code": "NotFound", "message": f"sink {sink!r} has not started"})
    for letter in dead:
        ctx.db.insert(
            "sink_dead_letters",
            {
                **letter,
                "sink": sink,
                "error": clip(letter["error"], ERROR_CHARS),
                "failed_at": ctx.now,
                "replay": False,
            },
        )
    changes: dict[str, Any] = {
        "cursor": cursor,
        "delivered": row["delivered"] + delivered,
        "skipped": row["skipped"] + skipped,
        "dead_lettered": row["dead_lettered"] + len(dead),
        "updated_at": ctx.now,
        "failing_since": UNSET,
    }
    if delivered:
        changes["last_delivered_at"] = ctx.now
    if last_event_at is not None:
        changes["last_event_at"] = last_event_at
    ctx.db.patch(row["_id"], changes)


@internal_mutation
def failing(ctx, sink: str, error: str) -> None:
    """The sink cannot deliver right now (it keeps retrying): say why and since when."""
    row = _state(ctx, sink)
    if row is None:
        return
    changes = {"last_error": clip(error, ERROR_CHARS), "updated_at": ctx.now}
    if row.get("failing_since") is None:
        changes["failing_since"] = ctx.now
    ctx.db.patch(row["_id"], changes)


@internal_query
def replay_queue(ctx, sink: str) -> list[dict[str, Any]]:
    """The sink's dead letters the owner asked to replay, oldest first, with their events."""
    rows = (
        ctx.db.query("sink_dead_letters")
        .with_index("by_sink_replay", lambda q: q.eq("sink", sink).eq("replay", True))
        .take(REPLAY_BATCH)
    )
    return [
        {"letter": row["_id"], "event": row["event"], "event_id": row["event_id"]} for row in rows
    ]


@internal_mutation
def replay_done(
    ctx,
    sink: str,
    delivered: Annotated[list[str], v.array(v.id("sink_dead_letters"))],
    failed: Annotated[
        list[dict[str, Any]],
        v.array(v.object({"letter": v.id("sink_dead_letters"), "error": v.string()})),
    ],
) -> None:
    """A replay's outcome: letters delivered are deleted, the others wait for the next replay."""
    for letter in delivered:
        if ctx.db.get(letter) is not None:
            ctx.db.delete(letter)
    for item in failed:
        row = ctx.db.get(item["letter"])
        if row is not None:
            ctx.db.patch(
                row["_id"],
                {
                    "replay": False,
                    "attempts": row["attempts"] + 1,
                    "error": clip(item["error"], ERROR_CHARS),
                    "failed_at": ctx.now,
                },
            )
    row = _state(ctx, sink)
    if row is not None and delivered:
        ctx.db.patch(row["_id"], {"replayed": row["replayed"] + len(delivered)})


@query
def status(ctx) -> dict[str, Any] | None:
    """For the owner (None for the public): ``{sinks: [...], dead_letters: [...]}``, each sink
    with its counters, ``pending_dead_letters``, ``last_error`` and ``failing_since``; the
    latest dead letters with their errors; each project's forwarding level."""
    if not access.is_owner(ctx):
        return None
    sinks = []
    for row in ctx.db.query("sink_state").collect():
        replaying = (
            ctx.db.query("sink_dead_letters")
            .with_index(
                "by_sink_replay", lambda q, s=row["sink"]: q.eq("sink", s).eq("replay", True)
            )
            .take(REPLAY_BATCH)
        )
        sinks.append(
            {
                **{k: value for k, value in row.items() if not k.startswith("_")},
                # a dead letter leaves the table only when a replay delivers it (``replayed``)
                "pending_dead_letters": row["dead_lettered"] - row["replayed"],
                "replaying": float(len(replaying)),
            }
        )
    recent = ctx.db.query("sink_dead_letters").with_index("by_failed").order("desc")
    letters = [
        {
            key: row[key]
            for key in ("_id", "sink", "event_id", "error", "attempts", "failed_at", "replay")
        }
        for row in recent.take(RECENT_DEAD_LETTERS)
    ]
    levels = {row["project"]: row["forward"] for row in ctx.db.query("sink_projects").collect()}
    projects = ctx.db.query("projects").with_index("by_last_event").order("desc")
    forwarding = [
        {
            "path": p["path"],
            "name": p["name"],
            "public": p["public"],
            "forward": levels.get(p["path"], DEFAULT_FORWARD),
        }
        for p in projects.take(PROJECTS_LIMIT)
    ]
    return {
        "sinks": sorted(sinks, key=lambda s: s["sink"]),
        "dead_letters": letters,
        "projects": forwarding,
        "levels": list(FORWARD_LEVELS),
    }


@mutation
def replay(ctx, sink: str | None = None) -> float:
    """Owner: send a sink's dead letters (every sink's when ``sink`` is not given) again; how
    many were queued. The sink deletes each one that gets through."""
    access.require_owner(ctx)
    if sink is not None and _state(ctx, sink) is None:
        raise AppError({"code": "NotFound", "message": f"no sink named {sink!r} has run here"})
    names = (
        [sink]
        if sink is not None
        else [row["sink"] for row in ctx.db.query("sink_state").collect()]
    )
    queued = 0
    for name in names:
        rows = (
            ctx.db.query("sink_dead_letters")
            .with_index("by_sink_replay", lambda q, s=name: q.eq("sink", s).eq("replay", False))
            .take(REPLAY_BATCH)
        )
        for row in rows:
            ctx.db.patch(row["_id"], {"replay": True})
        queued += len(rows)
    return float(queued)


@mutation
def set_forward(ctx, project: str, forward: Literal["off", "metadata", "content"]) -> None:
    """Owner: what leaves the machine for ``project`` (``off``, ``metadata``, ``content``)."""
    access.require_owner(ctx)
    if (
        ctx.db.query("projects").with_index("by_path", lambda q: q.eq("path", project)).unique()
        is None
    ):
        raise AppError({"code": "NotFound", "message": f"no project {project!r}"})
    row = (
        ctx.db.query("sink_projects")
        .with_index("by_project", lambda q: q.eq("project", project))
        .unique()
    )
    if row is None:
        ctx.db.insert("sink_projects", {"project": project, "forward": forward})
    else:
        ctx.db.patch(row["_id"], {"forward": forward})


@internal_mutation
def reset(ctx, sink: str) -> None:
    """Admin (``livebase run sinks/state:reset '{"sink": "mqtt"}' --data ...``, with the sink
    process stopped): forget the sink's cursor, so its next start begins at "now". For a sink
    whose cursor expired; what happened in between is not sent."""
    row = _state(ctx, sink)
    if row is None:
        raise AppError({"code": "NotFound", "message": f"no sink named {sink!r} has run here"})
    ctx.db.patch(row["_id"], {"cursor": UNSET, "failing_since": UNSET, "updated_at": ctx.now})
