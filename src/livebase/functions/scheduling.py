"""``ctx.scheduler`` and the execution of scheduled jobs.

In a mutation (and a trigger) the scheduler writes jobs in the caller's transaction, so they
commit or roll back with it. In an action or an HTTP route it commits each job at once. The
``JobExecutor`` runs a due job: a mutation job runs its function and records its outcome in one
transaction (so it happens exactly once); an action job is first claimed (``inProgress``), then
run, then recorded (so a crash in between leaves it failed, never run twice).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from livebase.engine.transaction import Document, Transaction
from livebase.errors import ConflictError, FunctionNotFoundError, InvalidValueError, LivebaseError
from livebase.functions.registry import function_path
from livebase.logs.store import log_source
from livebase.scheduler.jobs import (
    FAILED,
    IN_PROGRESS,
    PENDING,
    SUCCESS,
    cancel_job,
    get_job,
    insert_job,
    set_state,
)

if TYPE_CHECKING:
    from livebase.functions.registry import FunctionDef
    from livebase.functions.runner import Runner

log = logging.getLogger("livebase.scheduler")

SECONDS_BEFORE = 1e11
"""Below this, a ``run_at`` number is Unix seconds; at or above it, milliseconds (1e11 ms is
1973, 1e11 s is the year 5138)."""


def resolve_target(runner: Runner, target: Any) -> FunctionDef:
    """The mutation or action named by ``"module:function"`` or by a decorated function."""
    fd = runner.lookup(function_path(target, "ctx.scheduler"), None, admin=True)
    if fd.kind == "query":
        raise FunctionNotFoundError(
            f"{fd.path} is a query; only mutations and actions can be scheduled"
        )
    return fd


def run_at_ms(when: Any) -> float:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise InvalidValueError("run_at: give a timezone-aware datetime (e.g. UTC)")
        return when.timestamp() * 1000.0
    if isinstance(when, bool) or not isinstance(when, int | float):
        raise InvalidValueError(
            f"run_at: give a datetime or a Unix timestamp, got {type(when).__name__}"
        )
    if not math.isfinite(when):
        raise InvalidValueError(f"run_at: {when!r} is not a time")
    return float(when) * 1000.0 if when < SECONDS_BEFORE else float(when)


def _delay_ms(seconds: Any) -> float:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
    ):
        raise InvalidValueError(f"run_after: delay must be a number of seconds, got {seconds!r}")
    return max(0.0, float(seconds)) * 1000.0


class TxScheduler:
    """``ctx.scheduler`` in a mutation or trigger: jobs are part of the transaction."""

    def __init__(self, tx: Transaction, runner: Runner) -> None:
        self._tx = tx
        self._runner = runner

    def _schedule(self, at_ms: float, target: Any, args: dict[str, Any] | None) -> str:
        fd = resolve_target(self._runner, target)
        checked = self._runner.check_args(fd, args or {})
        return insert_job(self._tx, fd.path, checked, at_ms, kind=fd.kind)

    def run_after(self, seconds: float, target: Any, args: dict[str, Any] | None = None) -> str:
        """Run ``target`` ``seconds`` from now (0: as soon as this transaction commits)."""
        return self._schedule(self._tx.now_ms + _delay_ms(seconds), target, args)

    def run_at(self, when: Any, target: Any, args: dict[str, Any] | None = None) -> str:
        """Run ``target`` at ``when``: a datetime, or Unix time in seconds or milliseconds."""
        return self._schedule(run_at_ms(when), target, args)

    def cancel(self, job_id: str) -> None:
        """A job that has not started never runs; a running or finished one is unaffected."""
        cancel_job(self._tx, job_id)


class ActionScheduler:
    """``ctx.scheduler`` in an action or HTTP route: each call commits at once. In an
    ``async def`` action, ``await`` the calls; in a plain ``def`` action they return directly."""

    def __init__(self, runner: Runner, call: Callable[[Callable[[Transaction], Any]], Any]):
        self._runner = runner
        self._call = call

    def run_after(self, seconds: float, target: Any, args: dict[str, Any] | None = None) -> Any:
        delay = _delay_ms(seconds)
        return self._call(
            lambda tx: TxScheduler(tx, self._runner)._schedule(tx.now_ms + delay, target, args)
        )

    def run_at(self, when: Any, target: Any, args: dict[str, Any] | None = None) -> Any:
        at = run_at_ms(when)
        return self._call(lambda tx: TxScheduler(tx, self._runner)._schedule(at, target, args))

    def cancel(self, job_id: str) -> Any:
        return self._call(lambda tx: cancel_job(tx, job_id))


class JobExecutor:
    """Runs one due job to its final state (see the module docstring)."""

    def __init__(self, runner: Runner, node_id: str = "local") -> None:
        self.runner = runner
        self.node_id = node_id

    async def __call__(self, job: Document) -> None:
        job_id, path = job["_id"], job["name"]
        args = job["args"][0] if job.get("args") else {}
        engine = self.runner.engine
        try:
            fd = self.runner.lookup(path, None, admin=True)
        except LivebaseError as exc:
            message = exc.message
            await engine.mutate(lambda tx: _finish_pending(tx, job_id, FAILED, message))
            return
        token = log_source.set("cron" if job.get("cron") else "scheduled")  # for livebase logs
        try:
            if fd.kind == "mutation":
                await self._mutation(job_id, fd, args)
            else:
                await self._action(job_id, fd, args)
        finally:
            log_source.reset(token)

    async def _mutation(self, job_id: str, fd: FunctionDef, args: dict[str, Any]) -> None:
        from livebase.functions.runner import Failed, new_request_id

        engine = self.runner.engine
        try:
            checked = self.runner.check_args(fd, args)
            body = self.runner.call_body(fd, checked, None)

            def run(tx: Transaction) -> list[str] | None:
                job = get_job(tx, job_id)
                if job is None or job["state"]["kind"] != PENDING:
                    return None  # canceled, or already run (by another worker)
                _, lines = body(tx)
                set_state(tx, job_id, SUCCESS)
                return lines

            outcome = await engine.mutate(run)
        except ConflictError:
            raise  # a system error: the worker retries with backoff
        except (Failed, LivebaseError) as exc:
            error = exc.error if isinstance(exc, Failed) else exc
            if isinstance(exc, Failed):
                _log_lines(fd.path, exc.log_lines)
            message = _message(error)
            log.warning("scheduled mutation %s (%s) failed: %s", fd.path, job_id, message)
            lines = exc.log_lines if isinstance(exc, Failed) else []
            source = log_source.get()
            self.runner.logs.record(fd.path, "mutation", lines, new_request_id(), source, message)
            await engine.mutate(lambda tx: _finish_pending(tx, job_id, FAILED, message))
            return
        if outcome.value is not None:
            _log_lines(fd.path, outcome.value)
            if outcome.value:
                lines = outcome.value
                self.runner.logs.record(
                    fd.path, "mutation", lines, new_request_id(), log_source.get()
                )

    async def _action(self, job_id: str, fd: FunctionDef, args: dict[str, Any]) -> None:
        engine = self.runner.engine

        def claim(tx: Transaction) -> bool:
            job = get_job(tx, job_id)
            if job is None or job["state"]["kind"] != PENDING:
                return False
            set_state(tx, job_id, IN_PROGRESS, started=True)
            tx.patch(job_id, {"worker": self.node_id})  # whose crash would orphan it
            return True

        if not (await engine.mutate(claim)).value:
            return
        result = await self.runner.run_action(fd.path, args, admin=True)
        _log_lines(fd.path, result.log_lines)
        error = None if result.ok else _message(result.error)
        if error is not None:
            log.warning("scheduled action %s (%s) failed: %s", fd.path, job_id, error)

        def finish(tx: Transaction) -> None:
            job = get_job(tx, job_id)
            if job is not None and job["state"]["kind"] == IN_PROGRESS:
                set_state(tx, job_id, FAILED if error else SUCCESS, error=error)

        await engine.mutate(finish)


def _log_lines(path: str, lines: list[str]) -> None:
    """A scheduled function has no caller to return its logs to: they go to the server log."""
    for line in lines:
        log.info("%s: %s", path, line)


def _finish_pending(tx: Transaction, job_id: str, kind: str, error: str) -> None:
    job = get_job(tx, job_id)
    if job is not None and job["state"]["kind"] == PENDING:
        set_state(tx, job_id, kind, error=error)


def _message(error: BaseException | None) -> str:
    if isinstance(error, LivebaseError):
        return f"{error.code}: {error.message}"
    if error is None:
        return "unknown error"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


SchedulerFactory = Callable[[Transaction], TxScheduler]
