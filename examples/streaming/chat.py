"""Live chat per game: signed-in viewers send, everyone (also anonymous visitors) reads.

Messages store the sender's ``tokenIdentifier``, not their name: ``list`` looks the current
display name up when it runs, so a renamed user's earlier messages show the new name, and a
rename re-runs the subscribed pages that show that user (their profile row is in the page's
read set). ``list`` never asks who is calling, so one run serves every subscriber of a page.
"""

from typing import Any

from livebase import PaginationOptions, mutation, query

from ._common import check_id, display_name, public_id, refuse, require_user

MAX_BODY_LENGTH = 500
MAX_PAGE = 100.0


@mutation
def send(ctx, gameId: str, body: str) -> str:
    """Post ``body`` (trimmed, 1 to 500 characters) to the game's chat."""
    user = require_user(ctx, "chat")
    check_id("gameId", gameId)
    body = body.strip()
    if not body:
        raise refuse("EmptyMessage", "a message cannot be empty")
    if len(body) > MAX_BODY_LENGTH:
        raise refuse(
            "MessageTooLong",
            f"a message is at most {MAX_BODY_LENGTH} characters (this one has {len(body)})",
            limit=float(MAX_BODY_LENGTH),
        )
    return ctx.db.insert("messages", {"gameId": gameId, "author": user, "body": body})


@query
def list(ctx, gameId: str, paginationOpts: PaginationOptions) -> dict[str, Any]:
    """The game's messages, newest first, a page at a time (``usePaginatedQuery`` shape)."""
    opts = dict(paginationOpts)
    opts["numItems"] = max(1.0, min(opts["numItems"], MAX_PAGE))
    result = (
        ctx.db.query("messages")
        .with_index("by_game", lambda q: q.eq("gameId", gameId))
        .order("desc")
        .paginate(opts)
    )
    names: dict[str, str] = {}
    page = []
    for message in result["page"]:
        author = message["author"]
        if author not in names:
            names[author] = display_name(ctx, author)
        page.append(
            {
                "_id": message["_id"],
                "_creationTime": message["_creationTime"],
                "body": message["body"],
                "authorId": public_id(author),
                "authorName": names[author],
            }
        )
    return {**result, "page": page}
