"""The public functions behind ``agentfeed.activity_store.ActivityStore``: a pipeline stage
that runs outside the server inserts activity, reads the activity queued for it, marks it
processed and queries stored activity, over the public protocol, signed in as the owner.

A stage registers once (``register_stage``); from then on every stored event is queued for it
too, in the transaction that stores it (``enrichment.enqueue``). ``sessions`` is the built-in
stage of the enrichment worker: it may be read, not marked. The mutations are the owner's; the
queries answer anyone else with nothing (as every public query of the app answers the public
with what it may see).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Literal, TypedDict

from livebase import AppError, mutation, query

from . import access, events
from .enrichment import STAGE as BUILT_IN_STAGE

STAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_LIMIT = 1000
DROPPED = ("redacted",)


class EventFilter(TypedDict, total=False):
    """``pipeline:find``'s filter: fields equal to these values; ``since`` <= ``timestamp`` <
    ``until`` (milliseconds)."""

    session_id: str
    project: str
    type: str
    tool_name: str
    source: str
    origin: Literal["hook", "activity"]
    since: float
    until: float


FILTERS = {
    "session_id": "by_session_time",
    "project": "by_project_time",
    "type": "by_type_time",
    "tool_name": "by_tool_time",
}
"""Filter fields that pick an index (in this order of preference); ``source``, ``origin``,
``since`` and ``until`` narrow any of them."""


def _bad(code: str, message: str) -> AppError:
    return AppError({"code": code, "message": message})


def _limit(limit: float) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad("InvalidLimit", f"limit must be from 1 to {MAX_LIMIT}; got {limit:g}")
    return int(limit)


def _stage(ctx: Any, stage: str, *, writing: bool) -> None:
    if stage == BUILT_IN_STAGE:
        if writing:
            message = f"the stage {stage!r} belongs to the enrichment worker: register your own"
            raise _bad("ReservedStage", message)
        return
    found = ctx.db.query("pipeline_stages").with_index("by_name", lambda q: q.eq("name", stage))
    if found.first() is None:
        message = f"no stage {stage!r}: register it first (pipeline:register_stage)"
        raise _bad("UnknownStage", message)


def _event(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key not in DROPPED}


@mutation
def register_stage(ctx, stage: str) -> bool:
    """Queue every event stored from now on for ``stage`` too. Returns whether it is new."""
    access.require_owner(ctx)
    if not STAGE_NAME.match(stage) or stage == BUILT_IN_STAGE:
        message = f"stage {stage!r}: expected 1-64 of a-z 0-9 _ - (and not {BUILT_IN_STAGE!r})"
        raise _bad("InvalidStage", message)
    found = ctx.db.query("pipeline_stages").with_index("by_name", lambda q: q.eq("name", stage))
    if found.first() is not None:
        return False
    ctx.db.insert("pipeline_stages", {"name": stage, "created_at": ctx.now})
    return True


@mutation
def unregister_stage(ctx, stage: str) -> float:
    """Stop queueing events for ``stage`` and drop what is queued for it, at most
    ``MAX_LIMIT`` rows a call. Returns how many rows it dropped (call again while it drops
    ``MAX_LIMIT``; a stage already gone is no error)."""
    access.require_owner(ctx)
    if stage == BUILT_IN_STAGE:
        raise _bad("ReservedStage", f"the stage {stage!r} belongs to the enrichment worker")
    found = ctx.db.query("pipeline_stages").with_index("by_name", lambda q: q.eq("name", stage))
    for row in found.collect():
        ctx.db.delete(row["_id"])
    queued = ctx.db.query("enrichment_queue").with_index("by_stage", lambda q: q.eq("stage", stage))
    rows = queued.take(MAX_LIMIT)
    for row in rows:
        ctx.db.delete(row["_id"])
    return float(len(rows))


@mutation
def insert(ctx, activity: dict[str, Any]) -> dict[str, Any]:
    """Store one activity (the ``POST /activity`` shape: ``source``, ``type``, optional ``id``,
    ``summary``, ``sessionId``, ``cwd``, ``project``, ``timestamp``, ``details``):
    ``{status: stored | duplicate | rejected, id, event_id?, reason?}``."""
    access.require_owner(ctx)
    raw = json.dumps(activity, ensure_ascii=False)
    generated = str(uuid.UUID(int=ctx.random.getrandbits(128), version=4))
    return events.store(ctx, "activity", raw, [], float(len(raw.encode())), generated)


@query
def unprocessed(ctx, stage: str, limit: float = 100) -> list[dict[str, Any]]:
    """The events queued for ``stage`` and not marked processed, in the order stored."""
    if not access.is_owner(ctx):
        return []
    _stage(ctx, stage, writing=False)
    rows = (
        ctx.db.query("enrichment_queue")
        .with_index("by_stage", lambda q: q.eq("stage", stage))
        .take(_limit(limit))
    )
    found = [ctx.db.get(row["event"]) for row in rows]
    return [_event(doc) for doc in found if doc is not None]


@mutation
def mark_processed(ctx, stage: str, event_ids: list[str]) -> float:
    """Take these events off ``stage``'s queue. Returns how many were on it."""
    access.require_owner(ctx)
    _stage(ctx, stage, writing=True)
    if len(event_ids) > MAX_LIMIT:
        raise _bad("InvalidLimit", f"at most {MAX_LIMIT} event ids at once; got {len(event_ids)}")
    done = 0
    for event_id in event_ids:
        queued = ctx.db.query("enrichment_queue").with_index(
            "by_stage_event", lambda q, e=event_id: q.eq("stage", stage).eq("event_id", e)
        )
        row = queued.first()
        if row is not None:
            ctx.db.delete(row["_id"])
            done += 1
    return float(done)


@query
def find(
    ctx,
    filter: EventFilter,
    limit: float = 100,
    order: Literal["asc", "desc"] = "asc",
) -> list[dict[str, Any]]:
    """Stored events matching every field of ``filter`` (``EventFilter``), by time. The
    public gets none."""
    if not access.is_owner(ctx):
        return []
    count = _limit(limit)
    field = next((name for name in FILTERS if name in filter), None)
    since, until = filter.get("since"), filter.get("until")

    def bounded(q: Any) -> Any:
        if since is not None:
            q = q.gte("timestamp", since)
        return q.lt("timestamp", until) if until is not None else q

    if field is None:
        q = ctx.db.query("events").with_index("by_time", bounded)
    else:
        value = filter[field]
        q = ctx.db.query("events").with_index(FILTERS[field], lambda r: bounded(r.eq(field, value)))
    for key, value in filter.items():
        if key != field and key not in ("since", "until"):
            q = q.filter(lambda doc, k=key, x=value: doc.get(k) == x)
    return [_event(doc) for doc in q.order(order).take(count)]
