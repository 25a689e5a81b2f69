"""Editorial content (articles, highlight pages) through draft -> review -> published.

=======  ======  =========  ================================================================
action   from    to
=======  ======  =========  ================================================================
create   (none)  draft
submit   draft   review
approve  review  review     another editor than the author signs the piece off
publish  review  published  only once approved
reject   review  draft      clears the approval; an optional note says why
=======  ======  =========  ================================================================

Only editors (see ``roles.py``) run the workflow and read drafts; ``published`` is public.
Every step writes an ``audit`` row (who, action, from, to, when) in the same mutation as the
change itself, so the log and the content never disagree: a refused step raises before it
writes anything, and any failure after the writes rolls both back.
"""

from typing import Any, Literal

from livebase import UNSET, mutation, query

from ._common import refuse, require_editor

TRANSITIONS = {
    "submit": ("draft", "review"),
    "approve": ("review", "review"),
    "publish": ("review", "published"),
    "reject": ("review", "draft"),
}
MAX_TITLE_LENGTH = 200
MAX_BODY_LENGTH = 50_000
MAX_NOTE_LENGTH = 500
MAX_LIST = 100


def _audit(
    ctx: Any, content_id: str, action: str, before: str | None, after: str, by: str, note: str
) -> None:
    row: dict[str, Any] = {"contentId": content_id, "action": action, "from": before}
    row |= {"to": after, "by": by, "at": ctx.now}
    if note:
        row["note"] = note
    ctx.db.insert("audit", row)


def _load(ctx: Any, id: str) -> dict[str, Any]:
    content_id = ctx.db.normalize_id("content", id)
    doc = None if content_id is None else ctx.db.get(content_id)
    if doc is None:
        raise refuse("NotFound", f"no content with id {id!r}", id=id)
    return doc


def _step(ctx: Any, id: str, action: str, note: str = "") -> dict[str, Any]:
    """Check the caller, the state and the action's own rule; then change the content and
    write its audit row, in this one transaction."""
    user = require_editor(ctx, f"{action} content")
    doc = _load(ctx, id)
    needed, wanted = TRANSITIONS[action]
    current = doc["state"]
    if current != needed:
        raise refuse(
            "InvalidTransition",
            f"cannot {action} content that is in {current!r}: "
            f"{action} moves {needed!r} to {wanted!r}",
            action=action,
            current=current,
            wanted=wanted,
        )
    note = note.strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise refuse("InvalidArgument", f"a note is at most {MAX_NOTE_LENGTH} characters")
    changes: dict[str, Any] = {"state": wanted, "updatedAt": ctx.now}
    if action == "approve":
        if doc["author"] == user:
            raise refuse("OwnContent", "another editor must approve content you wrote")
        changes["approvedBy"] = user
    elif action == "publish":
        if "approvedBy" not in doc:
            raise refuse("NotApproved", "content is published only once an editor approved it")
        changes["publishedAt"] = ctx.now
    elif action == "reject":
        changes["approvedBy"] = UNSET
    ctx.db.patch(doc["_id"], changes)
    _audit(ctx, doc["_id"], action, current, wanted, user, note)
    return ctx.db.get(doc["_id"])


@mutation
def create(ctx, title: str, body: str) -> str:
    """A new draft written by the caller (an editor)."""
    user = require_editor(ctx, "create content")
    title = title.strip()
    if not title or len(title) > MAX_TITLE_LENGTH:
        raise refuse("InvalidArgument", f"a title is 1 to {MAX_TITLE_LENGTH} characters")
    if len(body) > MAX_BODY_LENGTH:
        raise refuse("InvalidArgument", f"a body is at most {MAX_BODY_LENGTH} characters")
    content_id = ctx.db.insert(
        "content",
        {
            "title": title,
            "body": body,
            "state": "draft",
            "author": user,
            "createdAt": ctx.now,
            "updatedAt": ctx.now,
        },
    )
    _audit(ctx, content_id, "create", None, "draft", user, "")
    return content_id


@mutation
def submit(ctx, id: str) -> dict[str, Any]:
    """draft -> review."""
    return _step(ctx, id, "submit")


@mutation
def approve(ctx, id: str) -> dict[str, Any]:
    """Sign off a piece in review (by another editor than its author)."""
    return _step(ctx, id, "approve")


@mutation
def publish(ctx, id: str) -> dict[str, Any]:
    """review -> published, once approved."""
    return _step(ctx, id, "publish")


@mutation
def reject(ctx, id: str, note: str = "") -> dict[str, Any]:
    """review -> draft, with an optional note for the author."""
    return _step(ctx, id, "reject", note)


@query
def published(ctx, limit: float = 20) -> list[dict[str, Any]]:
    """Published content, newest first: public, also for anonymous visitors."""
    rows = (
        ctx.db.query("content")
        .with_index("by_state", lambda q: q.eq("state", "published"))
        .order("desc")
        .take(max(1, min(int(limit), MAX_LIST)))
    )
    return [
        {"_id": r["_id"], "title": r["title"], "body": r["body"], "publishedAt": r["publishedAt"]}
        for r in rows
    ]


@query
def queue(
    ctx, state: Literal["draft", "review", "published"], limit: float = 50
) -> list[dict[str, Any]]:
    """Editors: the content in ``state``, most recently changed first."""
    require_editor(ctx, "see the editorial queue")
    rows = (
        ctx.db.query("content")
        .with_index("by_state", lambda q: q.eq("state", state))
        .order("desc")
        .take(max(1, min(int(limit), MAX_LIST)))
    )
    return rows


@query
def get(ctx, id: str) -> dict[str, Any]:
    """Editors: one piece of content and its audit log, oldest step first."""
    require_editor(ctx, "see drafts and their history")
    doc = _load(ctx, id)
    log = (
        ctx.db.query("audit")
        .with_index("by_content", lambda q: q.eq("contentId", doc["_id"]))
        .collect()
    )
    return {"content": doc, "audit": log}
