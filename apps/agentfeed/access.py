"""The one place every public query passes the documents it returns through.

Today everything is visible and nothing is changed. Owner/public access control and redaction
(a later task) go here: filter by the caller (``ctx.auth``) and the project's ``public`` flag,
and redact fields, for every query at once. ``kind`` is the table the documents come from.
"""

from __future__ import annotations

from typing import Any

Doc = dict[str, Any]


def visible(ctx: Any, kind: str, docs: list[Doc]) -> list[Doc]:
    """The documents of ``kind`` the caller may see, as they may see them."""
    return docs


def visible_one(ctx: Any, kind: str, doc: Doc | None) -> Doc | None:
    if doc is None:
        return None
    shown = visible(ctx, kind, [doc])
    return shown[0] if shown else None


def visible_page(ctx: Any, kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """A ``paginate`` result with its page filtered (the cursors are unchanged)."""
    return {**result, "page": visible(ctx, kind, result["page"])}
