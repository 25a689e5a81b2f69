"""Processing GitHub deliveries, with retries written in app code.

``receive`` (called by ``http.py``) stores a delivery once per ``X-GitHub-Delivery`` and
schedules ``process`` in the same transaction. ``process`` is an action: it runs ``apply``, a
mutation that makes every change of the event (pull request, task status, dependents, audit
rows) and marks the delivery done, all in one transaction. If ``apply`` raises, none of that
happened; ``process`` then calls ``record_failure``, which schedules the next attempt
``BACKOFF_SECONDS * 2**(n-1)`` seconds later (1 s, 2 s, 4 s, 8 s), or after ``MAX_ATTEMPTS``
marks the delivery ``failed`` with the last error.

The retry is an action calling mutations because a mutation that raises rolls back, so it
cannot also record its own failure; and a scheduled mutation that raises is not retried.
"""

from typing import Any

from livebase import UNSET, internal_action, internal_mutation, query

from ._common import GITHUB, SYSTEM, audit, refuse, require_user
from ._workflow import FINAL, set_status

MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 1.0
STUCK_SECONDS = 600
"""A pending delivery whose attempt was due this long ago and whose job is gone or failed (the
server stopped while it ran: actions are not re-run) is scheduled again by the cron."""
CLEANUP_BATCH = 500
OPENED = ("opened", "reopened", "edited", "synchronize", "ready_for_review")


@internal_mutation
def receive(ctx, deliveryId: str, event: str, summary: Any) -> dict[str, Any]:
    """Store a delivery and schedule its processing; a redelivery (same id) changes nothing."""
    existing = (
        ctx.db.query("deliveries")
        .with_index("by_delivery", lambda q: q.eq("deliveryId", deliveryId))
        .first()
    )
    if existing is not None:
        return {"delivery": deliveryId, "duplicate": True, "status": existing["status"]}
    fields = {"deliveryId": deliveryId, "event": event, "summary": summary, "status": "pending"}
    fields |= {"attempts": 0.0, "receivedAt": ctx.now, "nextAttemptAt": ctx.now}
    id = ctx.db.insert("deliveries", fields)
    job = ctx.scheduler.run_after(0, process, {"id": id})
    ctx.db.patch(id, {"job": job})
    return {"delivery": deliveryId, "duplicate": False, "status": "pending"}


@internal_action
async def process(ctx, id: str) -> None:
    """One attempt. Never raises: a failure is recorded (and retried) by ``record_failure``."""
    try:
        await ctx.run_mutation(apply, {"id": id})
    except Exception as exc:
        data = getattr(exc, "data", None)
        error = data.get("message") if isinstance(data, dict) else None
        await ctx.run_mutation(
            record_failure, {"id": id, "error": str(error or exc) or type(exc).__name__}
        )


def _finish(ctx: Any, delivery: dict[str, Any], status: str, result: str) -> str:
    ctx.db.patch(
        delivery["_id"],
        {
            "status": status,
            "result": result,
            "attempts": delivery["attempts"] + 1,
            "finishedAt": ctx.now,
            "nextAttemptAt": UNSET,
        },
    )
    audit(ctx, GITHUB, f"delivery.{status}", "deliveries", delivery["_id"], "pending", status)
    return status


@internal_mutation
def apply(ctx, id: str) -> str:
    """Everything one delivery does, in one transaction; raises (and so changes nothing) when
    it cannot be processed now."""
    delivery = ctx.db.get(ctx.db.normalize_id("deliveries", id) or "")
    if delivery is None:
        return "gone"
    if delivery["status"] != "pending":
        return str(delivery["status"])  # already handled: attempts are idempotent
    event, summary = delivery["event"], delivery["summary"] or {}
    if event == "ping":
        return _finish(ctx, delivery, "processed", "pong")
    if event == "pull_request":
        status, result = _pull_request(ctx, summary)
        return _finish(ctx, delivery, status, result)
    return _finish(ctx, delivery, "ignored", f"the {event!r} event is not handled")


def _pull_request(ctx: Any, s: dict[str, Any]) -> tuple[str, str]:
    action = s.get("action", "")
    if action not in (*OPENED, "closed"):
        return "ignored", f"pull_request.{action} is not handled"
    repo = s.get("repo", "")
    project = ctx.db.query("projects").with_index("by_repo", lambda q: q.eq("repo", repo)).first()
    if project is None:
        # Maybe the project is being set up: worth retrying (the retries end in ``failed``).
        raise refuse("UnknownRepository", f"no project for the repository {repo!r}", repo=repo)
    number = s.get("number", -1.0)
    if number <= 0:
        raise refuse("InvalidPayload", "a pull_request event without a pull request number")
    state = "open" if action in OPENED else "merged" if s.get("merged") else "closed"
    pull = (
        ctx.db.query("pulls")
        .with_index(
            "by_project_number", lambda q: q.eq("projectId", project["_id"]).eq("number", number)
        )
        .first()
    )
    task = None
    if pull is not None and pull.get("taskId") is not None:
        task = ctx.db.get(pull["taskId"])
    elif s.get("taskRef"):
        ref = ctx.db.get(ctx.db.normalize_id("tasks", s["taskRef"]) or "")
        if ref is not None and ref["projectId"] == project["_id"]:
            task = ref
    fields = {"state": state, "url": s.get("url", ""), "title": s.get("title", "")}
    if task is not None:
        fields["taskId"] = task["_id"]
    if pull is None:
        pull_id = ctx.db.insert(
            "pulls",
            {"projectId": project["_id"], "number": number, "updatedAt": ctx.now, **fields},
        )
        audit(ctx, GITHUB, "pull.create", "pulls", pull_id, None, _pull_view(fields, number))
    else:
        pull_id = pull["_id"]
        if any(pull.get(k) != v for k, v in fields.items()):
            ctx.db.patch(pull_id, {**fields, "updatedAt": ctx.now})
            before = _pull_view(pull, number)
            audit(ctx, GITHUB, "pull.update", "pulls", pull_id, before, _pull_view(fields, number))
    if task is None:
        return "processed", f"pull request #{int(number)} {state} (no linked task)"
    if state == "open" and task["status"] in ("todo", "in_progress"):
        set_status(ctx, task, "in_review", GITHUB)
    elif state == "merged" and task["status"] not in FINAL:
        set_status(ctx, task, "done", GITHUB)
    elif state == "closed" and task["status"] == "in_review" and not _open_pulls(ctx, task):
        set_status(ctx, task, "in_progress", GITHUB)
    now = ctx.db.get(task["_id"])["status"]
    return "processed", f"pull request #{int(number)} {state}; task {task['_id']} is {now}"


def _pull_view(pull: dict[str, Any], number: float) -> dict[str, Any]:
    return {"number": number, "state": pull["state"], "taskId": pull.get("taskId")}


def _open_pulls(ctx: Any, task: dict[str, Any]) -> list[dict[str, Any]]:
    pulls = ctx.db.query("pulls").with_index("by_task", lambda q: q.eq("taskId", task["_id"]))
    return [p for p in pulls.collect() if p["state"] == "open"]


@internal_mutation
def record_failure(ctx, id: str, error: str) -> None:
    """The retry policy: try again after 1 s, 2 s, 4 s, 8 s; fail after MAX_ATTEMPTS."""
    delivery = ctx.db.get(id)
    if delivery is None or delivery["status"] != "pending":
        return
    attempts = delivery["attempts"] + 1
    error = error[:2000]
    if attempts >= MAX_ATTEMPTS:
        ctx.db.patch(
            id,
            {
                "status": "failed",
                "attempts": attempts,
                "lastError": error,
                "finishedAt": ctx.now,
                "nextAttemptAt": UNSET,
            },
        )
        audit(ctx, SYSTEM, "delivery.failed", "deliveries", id, "pending", "failed")
        return
    delay = BACKOFF_SECONDS * 2 ** (attempts - 1)
    job = ctx.scheduler.run_after(delay, process, {"id": id})
    ctx.db.patch(
        id,
        {
            "attempts": attempts,
            "lastError": error,
            "nextAttemptAt": ctx.now + delay * 1000,
            "job": job,
        },
    )


@internal_mutation
def cleanup(ctx, days: float = 7) -> float:
    """The cron's housekeeping: delete processed and ignored deliveries finished more than
    ``days`` days ago, and failed ones after ``4 * days`` (kept longer, to be looked into).
    At most CLEANUP_BATCH per run; it schedules itself again for the rest."""
    removed = 0
    for status, age in (("processed", days), ("ignored", days), ("failed", 4 * days)):
        cutoff = ctx.now - age * 86_400_000
        rows = (
            ctx.db.query("deliveries")
            .with_index(
                "by_status_finished",
                lambda q, s=status, c=cutoff: q.eq("status", s).lt("finishedAt", c),
            )
            .take(CLEANUP_BATCH - removed)
        )
        for row in rows:
            ctx.db.delete(row["_id"])
        removed += len(rows)
        if removed >= CLEANUP_BATCH:
            ctx.scheduler.run_after(0, cleanup, {"days": days})
            break
    return float(removed)


@internal_mutation
def requeue_stuck(ctx) -> float:
    """Schedule again the pending deliveries whose attempt never ran to its end (the server
    stopped while it ran, or its job was canceled)."""
    cutoff = ctx.now - STUCK_SECONDS * 1000
    rows = (
        ctx.db.query("deliveries")
        .with_index(
            "by_status_next", lambda q: q.eq("status", "pending").lt("nextAttemptAt", cutoff)
        )
        .take(CLEANUP_BATCH)
    )
    requeued = 0
    for row in rows:
        job = ctx.db.system.get(row["job"]) if row.get("job") else None
        if job is not None and job["state"]["kind"] in ("pending", "inProgress"):
            continue
        new_job = ctx.scheduler.run_after(0, process, {"id": row["_id"]})
        ctx.db.patch(row["_id"], {"job": new_job, "nextAttemptAt": ctx.now})
        requeued += 1
    return float(requeued)


@query
def deliveries(ctx, limit: float = 50) -> list[dict[str, Any]]:
    """The latest deliveries, newest first: status, attempts, last error, result."""
    require_user(ctx, "see webhook deliveries")
    return ctx.db.query("deliveries").order("desc").take(max(1, min(int(limit), 200)))


@query
def delivery(ctx, deliveryId: str) -> dict[str, Any]:
    """One delivery by its ``X-GitHub-Delivery`` id."""
    require_user(ctx, "see webhook deliveries")
    row = (
        ctx.db.query("deliveries")
        .with_index("by_delivery", lambda q: q.eq("deliveryId", deliveryId))
        .first()
    )
    if row is None:
        raise refuse("NotFound", f"no delivery {deliveryId!r}", deliveryId=deliveryId)
    return row
