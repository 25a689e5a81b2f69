"""What did not get in: posts refused for their key (401) and bodies rejected as unusable, counted
per UTC day so the page can say that events are being refused.

A refused post is not stored anywhere else (its sender may be anyone), so it is only counted:
one ``delivery`` document per day, endpoint and kind (``refused``, ``rejected``), bumped in a
mutation. Anonymous senders can make the server count, never make it store more: at most
``days x 2 endpoints x 2 kinds`` small documents. The HTTP handlers hand their refusals to
``refused``, which keeps at most one counting mutation of this process running and folds the
refusals that arrive meanwhile into the next one, so a flood of bad posts costs a few writes,
not one each (and no write conflicts on the day's counter).

``status`` (public) returns the counts of the last ``WINDOW_DAYS`` days and when the last one
happened; the owner also gets the reason of the last rejected body (it may quote the body, so
the public never does).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from livebase import internal_mutation, query

from . import access
from .normalize import clip, day_of

log = logging.getLogger(__name__)

WINDOW_DAYS = 7
KINDS = ("refused", "rejected")

_pending: Counter[str] = Counter()  # endpoint -> refusals not yet counted in the database
_counting = False


def count(ctx: Any, kind: str, endpoint: str, n: float = 1.0) -> None:
    """Add ``n`` to today's ``kind`` counter of ``endpoint`` (in the caller's transaction)."""
    day = day_of(ctx.now)
    row = (
        ctx.db.query("delivery")
        .with_index("by_day", lambda q: q.eq("day", day).eq("endpoint", endpoint).eq("kind", kind))
        .unique()
    )
    if row is None:
        doc = {"day": day, "endpoint": endpoint, "kind": kind, "count": n, "last_at": ctx.now}
        ctx.db.insert("delivery", doc)
    else:
        ctx.db.patch(row["_id"], {"count": row["count"] + n, "last_at": ctx.now})


@internal_mutation
def record_refused(ctx, endpoint: Literal["event", "activity"], n: float) -> None:
    """Count ``n`` posts to ``endpoint`` refused for a missing or wrong key."""
    count(ctx, "refused", endpoint, n)


async def refused(ctx: Any, endpoint: str) -> None:
    """Count one refused post (from an HTTP handler; see the module docstring)."""
    global _counting
    _pending[endpoint] += 1
    if _counting:
        return  # the running count picks this one up
    _counting = True
    try:
        while _pending:
            name, n = _pending.popitem()
            args = {"endpoint": name, "n": float(n)}
            try:
                await ctx.run_mutation("delivery:record_refused", args)
            except Exception as exc:  # the 401 is answered all the same
                log.warning("counting %d refused posts to /%s failed: %s", n, name, exc)
    finally:
        _counting = False


@query
def status(ctx) -> dict[str, Any]:
    """``{owner, window_days, refused: {count, today, last_at}, rejected: {...}}`` over the
    last ``WINDOW_DAYS`` UTC days (``last_at`` null when none); the owner also gets
    ``last_rejected_reason``."""
    who = access.viewer(ctx)
    now = datetime.fromtimestamp(ctx.now / 1000, UTC).date()
    today = now.isoformat()
    first = (now - timedelta(days=WINDOW_DAYS - 1)).isoformat()
    rows = ctx.db.query("delivery").with_index("by_day", lambda q: q.gte("day", first)).collect()
    result: dict[str, Any] = {"owner": who.owner, "window_days": float(WINDOW_DAYS)}
    for kind in KINDS:
        mine = [row for row in rows if row["kind"] == kind]
        result[kind] = {
            "count": sum((row["count"] for row in mine), 0.0),
            "today": sum((row["count"] for row in mine if row["day"] == today), 0.0),
            "last_at": max((row["last_at"] for row in mine), default=None),
        }
    if who.owner:
        last = ctx.db.query("rejected_events").with_index("by_time").order("desc").first()
        result["last_rejected_reason"] = clip(last["reason"], 300) if last else None
    return result
