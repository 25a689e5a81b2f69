"""Watch progress per (user, video) and the "continue watching" row.

The player calls ``save`` every few seconds. A write touches only its user's index range, so
it re-runs only that user's ``continue_watching`` subscription, not anyone else's.
"""

import math
from typing import Any

from livebase import mutation, query

from ._common import check_id, refuse, require_user

FINISHED_FRACTION = 0.95
"""A video watched this far is finished (the credits or the post-game show are left)."""
MAX_ROW = 50


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "videoId": row["videoId"],
        "positionSeconds": row["positionSeconds"],
        "durationSeconds": row["durationSeconds"],
        "finished": row["finished"],
        "updatedAt": row["updatedAt"],
    }


def _find(ctx: Any, user: str, video_id: str) -> dict[str, Any] | None:
    return (
        ctx.db.query("progress")
        .with_index("by_user_video", lambda q: q.eq("user", user).eq("videoId", video_id))
        .unique()
    )


@mutation
def save(ctx, videoId: str, positionSeconds: float, durationSeconds: float) -> dict[str, Any]:
    """Record where the caller is in a video (a position past the end counts as the end)."""
    user = require_user(ctx, "save your watch progress")
    check_id("videoId", videoId)
    if not math.isfinite(durationSeconds) or durationSeconds <= 0:
        raise refuse("InvalidArgument", "durationSeconds must be a positive number")
    if not math.isfinite(positionSeconds) or positionSeconds < 0:
        raise refuse("InvalidArgument", "positionSeconds must be a number >= 0")
    position = min(positionSeconds, durationSeconds)
    fields = {
        "positionSeconds": position,
        "durationSeconds": durationSeconds,
        "finished": position >= durationSeconds * FINISHED_FRACTION,
        "updatedAt": ctx.now,
    }
    row = _find(ctx, user, videoId)
    if row is None:
        ctx.db.insert("progress", {"user": user, "videoId": videoId, **fields})
    else:
        ctx.db.patch(row["_id"], fields)
    return _summary({"videoId": videoId, **fields})


@query
def continue_watching(ctx, limit: float = 20) -> list[dict[str, Any]]:
    """The caller's unfinished videos, most recently watched first."""
    user = require_user(ctx, "see what you were watching")
    rows = (
        ctx.db.query("progress")
        .with_index("by_user_unfinished", lambda q: q.eq("user", user).eq("finished", False))
        .order("desc")
        .take(max(1, min(int(limit), MAX_ROW)))
    )
    return [_summary(row) for row in rows]


@query
def get(ctx, videoId: str) -> dict[str, Any] | None:
    """Where the caller left ``videoId`` (None if never watched): the player resumes there."""
    user = require_user(ctx, "resume a video")
    row = _find(ctx, user, videoId)
    return None if row is None else _summary(row)
