"""Who is watching a game: signed-in viewers send a heartbeat every ``HEARTBEAT_SECONDS``;
``viewers`` counts those seen within the last ``STALE_SECONDS``; a cron (``crons.py``) deletes
stale rows every minute, which also brings subscribed counts down.

A viewer watching in two tabs is one row (per user and game). ``viewers`` reads the clock
(``ctx.now``) when it runs; between runs, a count drops when a stale row is deleted (by the cron
or ``leave``), and rises or falls at the game's next heartbeat.
"""

from typing import Any

from livebase import internal_mutation, mutation, query

from ._common import check_id, require_user

HEARTBEAT_SECONDS = 15
STALE_SECONDS = 45
"""Three missed heartbeats and a viewer is gone."""
EXPIRE_BATCH = 500


def _row(ctx: Any, user: str, game_id: str) -> dict[str, Any] | None:
    return (
        ctx.db.query("presence")
        .with_index("by_user_game", lambda q: q.eq("user", user).eq("gameId", game_id))
        .unique()
    )


@mutation
def heartbeat(ctx, gameId: str) -> float:
    """The caller is watching ``gameId`` now; returns the time recorded (ms)."""
    user = require_user(ctx, "be counted as a viewer")
    check_id("gameId", gameId)
    row = _row(ctx, user, gameId)
    if row is None:
        ctx.db.insert("presence", {"gameId": gameId, "user": user, "lastSeen": ctx.now})
    else:
        ctx.db.patch(row["_id"], {"lastSeen": ctx.now})
    return float(ctx.now)


@mutation
def leave(ctx, gameId: str) -> None:
    """The caller stopped watching (the player closed): no need to wait for the cron."""
    user = require_user(ctx, "leave a game")
    row = _row(ctx, user, gameId)
    if row is not None:
        ctx.db.delete(row["_id"])


@query
def viewers(ctx, gameId: str) -> float:
    """How many signed-in viewers sent a heartbeat for ``gameId`` in the last STALE_SECONDS."""
    cutoff = ctx.now - STALE_SECONDS * 1000
    rows = ctx.db.query("presence").with_index(
        "by_game_seen", lambda q: q.eq("gameId", gameId).gte("lastSeen", cutoff)
    )
    return float(len(rows.collect()))


@internal_mutation
def expire(ctx, seenBefore: float | None = None) -> float:
    """Delete presence rows last seen before ``seenBefore`` (ms; default: STALE_SECONDS ago).

    The cron calls it with no argument; an operator (or a test) may pass a time. Deletes at most
    EXPIRE_BATCH rows per transaction and schedules itself again for the rest.
    """
    cutoff = ctx.now - STALE_SECONDS * 1000 if seenBefore is None else seenBefore
    stale = (
        ctx.db.query("presence")
        .with_index("by_seen", lambda q: q.lt("lastSeen", cutoff))
        .take(EXPIRE_BATCH)
    )
    for row in stale:
        ctx.db.delete(row["_id"])
    if len(stale) == EXPIRE_BATCH:
        ctx.scheduler.run_after(0, expire, {"seenBefore": cutoff})
    return float(len(stale))
