"""Store-then-process webhooks with a retry policy written in app code.

``POST /webhooks/<source>`` (see ``http.py``) stores the payload and schedules ``process``; the
caller gets 202 at once. ``process`` calls the upstream; when it fails, ``record_failure``
schedules the next attempt with exponential backoff, up to ``MAX_ATTEMPTS``. Everything a client
may want to watch (``get``, ``recent``, ``stats``) is a live query.
"""

from typing import Any

from livebase import (
    AppError,
    internal_action,
    internal_mutation,
    mutation,
    query,
    trigger,
)

MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.25  # then 0.5, 1, 2 ...
STATUSES = ("received", "processing", "done", "failed")


@mutation
def receive(ctx, source: str, payload: Any) -> str:
    """Store a payload and schedule its processing (which starts once this commits)."""
    hook_id = ctx.db.insert(
        "webhooks",
        {
            "source": source,
            "payload": payload,
            "status": "received",
            "attempts": 0,
            "receivedAt": ctx.now,
        },
    )
    ctx.scheduler.run_after(0, process, {"id": hook_id})
    return hook_id


@internal_mutation
def start_attempt(ctx, id: str) -> dict[str, Any] | None:
    hook = ctx.db.get(id)
    if hook is None or hook["status"] in ("done", "failed"):
        return None
    attempt = hook["attempts"] + 1
    ctx.db.patch(id, {"status": "processing", "attempts": attempt})
    return {"payload": hook["payload"], "attempt": attempt}


@internal_mutation
def complete(ctx, id: str, result: Any) -> None:
    ctx.db.patch(id, {"status": "done", "result": result})


@internal_mutation
def record_failure(ctx, id: str, error: str) -> None:
    """The retry policy: back off and try again, or give up after ``MAX_ATTEMPTS``."""
    hook = ctx.db.get(id)
    if hook is None:
        return
    if hook["attempts"] >= MAX_ATTEMPTS:
        ctx.db.patch(id, {"status": "failed", "error": error})
        return
    delay = BACKOFF_SECONDS * 2 ** (hook["attempts"] - 1)
    ctx.db.patch(id, {"status": "received", "error": error})
    ctx.scheduler.run_after(delay, process, {"id": id})


def call_upstream(payload: Any, attempt: int) -> dict[str, Any]:
    """Stands in for the real side effect (an HTTP call, an LLM...). A payload can ask to fail
    its first ``fail_times`` attempts, which is how the demo and the tests exercise retries."""
    fail_times = payload.get("fail_times", 0) if isinstance(payload, dict) else 0
    if attempt <= fail_times:
        raise ConnectionError(f"upstream unavailable (attempt {attempt})")
    return {"processed": True, "attempt": attempt}


@internal_action
async def process(ctx, id: str) -> None:
    started = await ctx.run_mutation("webhooks:start_attempt", {"id": id})
    if started is None:
        return
    try:
        result = call_upstream(started["payload"], started["attempt"])
    except Exception as exc:
        await ctx.run_mutation("webhooks:record_failure", {"id": id, "error": str(exc)})
        raise  # this job is marked failed in _scheduled_functions; the retry is its own job
    await ctx.run_mutation("webhooks:complete", {"id": id, "result": result})


@trigger("webhooks")
def count_by_status(ctx, change) -> None:
    """Keep ``stats`` in step with every write to ``webhooks``, in the same transaction."""
    before = change.old_doc["status"] if change.old_doc else None
    after = change.new_doc["status"] if change.new_doc else None
    if before == after:
        return
    for status, delta in ((before, -1), (after, 1)):
        if status is None:
            continue
        row = (
            ctx.db.query("stats")
            .with_index("by_status", lambda q, s=status: q.eq("status", s))
            .unique()
        )
        if row is None:
            ctx.db.insert("stats", {"status": status, "count": delta})
        else:
            ctx.db.patch(row["_id"], {"count": row["count"] + delta})


@query
def get(ctx, id: str) -> dict[str, Any] | None:
    if ctx.db.normalize_id("webhooks", id) is None:
        raise AppError({"code": "NotFound", "id": id})
    return ctx.db.get(id)


@query
def recent(ctx, limit: float = 20) -> list[dict[str, Any]]:
    return ctx.db.query("webhooks").order("desc").take(int(limit))


@query
def stats(ctx) -> dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for row in ctx.db.query("stats").collect():
        counts[row["status"]] = row["count"]
    return counts


@query
def jobs(ctx, limit: float = 20) -> list[dict[str, Any]]:
    """The scheduler's own table: every job, its state and timings."""
    return ctx.db.system.query("_scheduled_functions").order("desc").take(int(limit))


@internal_mutation
def purge(ctx, older_than_hours: float) -> int:
    """Delete finished webhooks older than the cutoff (run by a cron)."""
    cutoff = ctx.now - older_than_hours * 3600 * 1000
    removed = 0
    for status in ("done", "failed"):
        rows = ctx.db.query("webhooks").with_index(
            "by_status", lambda q, s=status: q.eq("status", s)
        )
        for hook in rows.take(500):
            if hook["receivedAt"] < cutoff:
                ctx.db.delete(hook["_id"])
                removed += 1
    return removed
