"""Similar sessions: one vector per session (``session_vectors``), the sum of the embeddings of
its prompts (``embedding.py``), and ``similar:sessions``, a reactive vector search over them.

A session's vector is made only from its prompts **as the public sees them** (the redacted
copy's ``prompt``, ``redacted.py``), for the owner as for the public: no secret ever goes into
a vector, so the ranking the public sees depends on nothing it could not read. Cosine similarity
ignores length, so the vector is kept as a plain sum: each prompt adds its unit vector in the
ingesting transaction (``apply_event``), and nothing is recomputed.

Sessions whose prompts were stored before vectors existed get them from ``backfill`` (a cron):
it walks the stored prompts once, oldest first, in batches, and adds each prompt received
before the first one the ingestion counted for its session (``counted_from``), so no prompt is
counted twice.

The vectors live in a table of their own, written only when a prompt arrives, so a subscribed
panel re-runs on a new prompt and not on every event of every session.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from livebase import AppError, internal_mutation, internal_query, query, v

from . import access, embedding, redacted
from . import sessions as session_table

SIMILAR_MAX = 20
MIN_SIMILARITY = 0.2
"""Sessions less alike than this are not listed: below it, a score is mostly the noise of
words that share a hash slot (``embedding.py``)."""
BACKFILL_BATCH = 50
"""Prompt events one backfill run reads (each event can be tens of KB)."""
PUBLIC_PROJECTS_LIMIT = 500
STATE_KEY = "backfill"


def find(ctx: Any, session_id: str) -> dict[str, Any] | None:
    return (
        ctx.db.query("session_vectors")
        .with_index("by_session_id", lambda q: q.eq("session_id", session_id))
        .unique()
    )


def prompt_text(event: dict[str, Any]) -> str:
    """A prompt event's text as the public sees it (its redacted copy)."""
    copy = event.get(redacted.FIELD)
    if not redacted.is_current(copy):
        copy = redacted.event_view(event)
    text = copy.get("prompt") or copy.get("summary") or ""
    return str(text)


def _add(ctx: Any, session_id: str, project: Any, vector: list[float], live: bool) -> None:
    row = find(ctx, session_id)
    if row is None:
        doc: dict[str, Any] = {
            "session_id": session_id,
            "embedding": vector,
            "prompts": 1.0,
            "updated_at": ctx.now,
        }
        if isinstance(project, str):
            doc["project"] = project
        if live:
            doc["counted_from"] = ctx.now
        ctx.db.insert("session_vectors", doc)
        return
    patch: dict[str, Any] = {
        "embedding": embedding.add(row.get("embedding"), vector),
        "prompts": row["prompts"] + 1,
        "updated_at": ctx.now,
    }
    if isinstance(project, str) and row.get("project") != project:
        patch["project"] = project
    if live and "counted_from" not in row:
        patch["counted_from"] = ctx.now
    ctx.db.patch(row["_id"], patch)


def apply_event(ctx: Any, event: dict[str, Any], project: str | None) -> None:
    """Add a prompt to its session's vector, in the ingesting transaction (``project``: the
    session's)."""
    session_id = event.get("session_id")
    if event["type"] != "UserPromptSubmit" or not isinstance(session_id, str):
        return
    vector = embedding.embed(prompt_text(event))
    if vector is not None:
        _add(ctx, session_id, project, vector, live=True)


@internal_mutation
def backfill(ctx) -> float:
    """Add the prompts stored before session vectors existed (at most ``BACKFILL_BATCH`` a
    run; run by a cron until it has walked them all). Returns how many it added."""
    state = (
        ctx.db.query("session_vector_state")
        .with_index("by_key", lambda q: q.eq("key", STATE_KEY))
        .unique()
    )
    if state is not None and state["done"]:
        return 0.0
    cursor = state["cursor"] if state is not None else None
    page = (
        ctx.db.query("events")
        .with_index("by_type_time", lambda q: q.eq("type", "UserPromptSubmit"))
        .paginate({"numItems": BACKFILL_BATCH, "cursor": cursor})
    )
    added = 0.0
    for event in page["page"]:
        session_id = event.get("session_id")
        if not isinstance(session_id, str):
            continue
        row = find(ctx, session_id)
        if row is not None and event["received_at"] >= row.get("counted_from", math.inf):
            continue  # the ingestion counted it
        vector = embedding.embed(prompt_text(event))
        if vector is None:
            continue
        session = session_table.find(ctx, session_id)
        _add(ctx, session_id, (session or {}).get("project"), vector, live=False)
        added += 1
    fields = {"cursor": page["continueCursor"], "done": page["isDone"], "updated_at": ctx.now}
    if state is None:
        ctx.db.insert("session_vector_state", {"key": STATE_KEY, **fields})
    else:
        ctx.db.patch(state["_id"], fields)
    return added


def _public_projects(ctx: Any) -> list[str]:
    rows = (
        ctx.db.query("projects")
        .filter(lambda doc: doc["public"] is True)
        .take(PUBLIC_PROJECTS_LIMIT)
    )
    return [row["path"] for row in rows]


@query
def sessions(
    ctx,
    session_id: str,
    limit: Annotated[float, v.number()] = 5,
) -> dict[str, Any]:
    """The sessions most like ``session_id`` by their prompts, best first:
    ``{status, sessions: [session + {similarity}]}``. ``status`` is ``ready``, ``no_prompts``
    (the session has no prompt to compare yet) or ``not_found`` (no such session, or one the
    caller may not see). The public compares only sessions of public projects, and sees them
    as redacted as everywhere else. ``limit``: 1..20."""
    if not 1 <= limit <= SIMILAR_MAX or limit != int(limit):
        raise AppError(
            {"code": "BadArgument", "message": f"limit must be 1..{SIMILAR_MAX}, got {limit}"}
        )
    who = access.viewer(ctx)
    if who.visible_one("sessions", session_table.find(ctx, session_id)) is None:
        return {"status": "not_found", "sessions": []}
    mine = find(ctx, session_id)
    if mine is None or "embedding" not in mine:
        return {"status": "no_prompts", "sessions": []}
    paths = None if who.owner else _public_projects(ctx)
    if paths == []:
        return {"status": "ready", "sessions": []}

    def only_public(q: Any) -> Any:
        return q.or_(*[q.eq("project", path) for path in paths or []])

    nearest = ctx.db.query("session_vectors").with_vector_index(
        "by_embedding",
        vector=mine["embedding"],
        limit=int(limit) + 1,
        filter=None if paths is None else only_public,
    )
    found = []
    for row in nearest:
        if row["session_id"] == session_id or row["_score"] < MIN_SIMILARITY:
            continue
        shown = who.visible_one("sessions", session_table.find(ctx, row["session_id"]))
        if shown is not None:
            found.append({**shown, "similarity": row["_score"]})
    return {"status": "ready", "sessions": found[: int(limit)]}


@internal_query
def vector(ctx, session_id: str) -> dict[str, Any] | None:
    """A session's stored vector row (for the admin and the tests)."""
    return find(ctx, session_id)
