"""Activity sessions for the owner: the list the page shows, and confirming or correcting a
guessed intent. Activity sessions are the owner's alone (the public view gets none: they hold
prompt text and file names that no redacted copy exists for).

A confirmation or a correction sets the intent (``intent_source`` ``owner``, confidence 1, no
longer ``needs_validation``; later events of the session do not change it) and is kept in
``intent_corrections`` with the session's words, which the next guesses are matched against
(``intent.guess``) and the LLM enricher is shown as examples.
"""

from __future__ import annotations

from typing import Any, Literal

from livebase import AppError, mutation, query

from . import access
from .intent import session_words

LIST_LIMIT = 100
INTENT_CHARS = 200
HIDDEN = ("keywords",)


def _shown(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key not in HIDDEN}


@query
def sessions(
    ctx,
    status: Literal["active", "paused", "completed", "abandoned"] | None = None,
    needs_validation: bool | None = None,
    limit: float = 30,
) -> dict[str, Any]:
    """``{owner, sessions}``: the latest activity sessions first (at most ``LIST_LIMIT``),
    optionally of one status or only those needing validation. The public gets
    ``{owner: false, sessions: []}``."""
    if not access.is_owner(ctx):
        return {"owner": False, "sessions": []}
    count = max(1, min(int(limit), LIST_LIMIT))
    if status is not None:
        q = ctx.db.query("activity_sessions").with_index(
            "by_status_last", lambda r: r.eq("status", status)
        )
    else:
        q = ctx.db.query("activity_sessions").with_index("by_last")
    if needs_validation is not None:
        q = q.filter(lambda doc: doc["needs_validation"] == needs_validation)
    return {"owner": True, "sessions": [_shown(doc) for doc in q.order("desc").take(count)]}


def _session(ctx: Any, session_id: str) -> dict[str, Any]:
    access.require_owner(ctx)
    target = ctx.db.normalize_id("activity_sessions", session_id)
    doc = ctx.db.get(target) if target is not None else None
    if doc is None:
        raise AppError({"code": "NotFound", "message": f"no activity session {session_id!r}"})
    return doc


def _keep(ctx: Any, doc: dict[str, Any], chosen: str, kind: str | None) -> None:
    correction: dict[str, Any] = {
        "activity_session": doc["_id"],
        "project": doc["project"],
        "keywords": session_words(doc),
        "guessed": doc["guessed_intent"],
        "intent": chosen,
        "created_at": ctx.now,
    }
    if kind is not None:
        correction["kind"] = kind
    earlier = (
        ctx.db.query("intent_corrections")
        .with_index("by_session", lambda q: q.eq("activity_session", doc["_id"]))
        .unique()
    )
    if earlier is not None:
        ctx.db.replace(earlier["_id"], correction)
    else:
        ctx.db.insert("intent_corrections", correction)
    validated = {"intent_source": "owner", "confidence": 1.0, "needs_validation": False}
    ctx.db.patch(doc["_id"], {"guessed_intent": chosen, **validated})


@mutation
def confirm(ctx, session: str) -> dict[str, Any]:
    """The owner confirms a session's guessed intent."""
    doc = _session(ctx, session)
    _keep(ctx, doc, doc["guessed_intent"], doc["intent_kind"])
    return _shown(ctx.db.get(doc["_id"]))


@mutation
def correct(ctx, session: str, intent: str) -> dict[str, Any]:
    """The owner says what a session was for (1..200 characters)."""
    text = " ".join(intent.split())
    if not text:
        message = "the intent is empty: say what the session was for"
        raise AppError({"code": "InvalidIntent", "message": message})
    if len(text) > INTENT_CHARS:
        message = f"the intent is {len(text)} characters long; at most {INTENT_CHARS}"
        raise AppError({"code": "InvalidIntent", "message": message})
    doc = _session(ctx, session)
    _keep(ctx, doc, text, None)
    return _shown(ctx.db.get(doc["_id"]))
