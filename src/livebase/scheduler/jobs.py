"""Scheduled jobs as documents in the ``_scheduled_functions`` system table.

A job is written in the transaction that schedules it, so scheduling from a mutation commits or
rolls back with the mutation. Its ``state.kind`` moves ``pending`` -> ``inProgress`` (actions
only) -> ``success`` / ``failed``, or ``pending`` -> ``canceled``; every move is a transaction
too, which is what makes a scheduled mutation run exactly once and a scheduled action at most
once across restarts.
"""

from __future__ import annotations

from typing import Any

from livebase.engine.transaction import Document, Transaction
from livebase.errors import InvalidIdError, LimitExceededError
from livebase.schema.definition import TableDefinition
from livebase.values.wire import dumps, to_wire

SCHEDULED_FUNCTIONS = "_scheduled_functions"
CRON_JOBS = "_cron_jobs"
BY_STATE = "by_state"
BY_NAME = "by_name"

PENDING, IN_PROGRESS, SUCCESS, FAILED, CANCELED = (
    "pending",
    "inProgress",
    "success",
    "failed",
    "canceled",
)
FINISHED = (SUCCESS, FAILED, CANCELED)

MAX_ARGS_BYTES = 4 << 20
MAX_SCHEDULED_PER_CALL = 1000


def system_tables() -> dict[str, TableDefinition]:
    jobs = TableDefinition(None)
    jobs.indexes[BY_STATE] = ("state.kind", "scheduledTime")
    crons = TableDefinition(None)
    crons.indexes[BY_NAME] = ("name",)
    return {SCHEDULED_FUNCTIONS: jobs, CRON_JOBS: crons}


def insert_job(
    tx: Transaction,
    path: str,
    args: dict[str, Any],
    run_at_ms: float,
    *,
    kind: str,
    cron: str | None = None,
) -> str:
    """Add a pending job in ``tx``; ``args`` must already be validated Convex values."""
    size = len(dumps(to_wire(args)))
    if size > MAX_ARGS_BYTES:
        raise LimitExceededError(
            f"arguments for scheduled {path} are {size} bytes; the limit is {MAX_ARGS_BYTES}",
            code="ScheduledArgsTooLarge",
        )
    tx.scheduled_count += 1
    if tx.scheduled_count > MAX_SCHEDULED_PER_CALL:
        raise LimitExceededError(
            f"one call may schedule at most {MAX_SCHEDULED_PER_CALL} functions",
            code="TooManyScheduledFunctions",
        )
    doc: dict[str, Any] = {
        "name": path,
        "kind": kind,
        "args": [args],
        "scheduledTime": float(run_at_ms),
        "state": {"kind": PENDING},
    }
    if cron is not None:
        doc["cron"] = cron
    return tx.insert(SCHEDULED_FUNCTIONS, doc)


def get_job(tx: Transaction, job_id: str) -> Document | None:
    if tx.normalize_id(SCHEDULED_FUNCTIONS, job_id) is None:
        return None
    return tx.get(job_id)


def cancel_job(tx: Transaction, job_id: str) -> bool:
    """Cancel a job that has not started; True if it was pending. Canceling a finished or
    running job changes nothing (a running action finishes)."""
    job = get_job(tx, job_id) if isinstance(job_id, str) else None
    if job is None:
        raise InvalidIdError(f"cancel: {job_id!r} is not a scheduled function id")
    if job["state"]["kind"] != PENDING:
        return False
    tx.patch(job_id, {"state": {"kind": CANCELED}, "completedTime": tx.now_ms})
    return True


def set_state(
    tx: Transaction, job_id: str, kind: str, *, error: str | None = None, started: bool = False
) -> None:
    state: dict[str, Any] = {"kind": kind}
    if error is not None:
        state["error"] = error
    fields: dict[str, Any] = {"state": state}
    if started:
        fields["startedTime"] = tx.now_ms
    if kind in FINISHED:
        fields["completedTime"] = tx.now_ms
    tx.patch(job_id, fields)


def jobs_in_state(
    tx: Transaction, kind: str, *, before_ms: float | None = None, limit: int = 100
) -> list[Document]:
    """Jobs in one state, soonest ``scheduledTime`` first (up to ``before_ms`` inclusive)."""

    def rng(q: Any) -> Any:
        q = q.eq("state.kind", kind)
        return q if before_ms is None else q.lte("scheduledTime", float(before_ms))

    return tx.query(SCHEDULED_FUNCTIONS).with_index(BY_STATE, rng).take(limit)


def next_pending_ms(tx: Transaction) -> float | None:
    first = jobs_in_state(tx, PENDING, limit=1)
    return float(first[0]["scheduledTime"]) if first else None
