"""The worker: turns due cron rows into jobs and runs due jobs, a few at a time.

It owns no state that matters: everything is in the ``_scheduled_functions`` and ``_cron_jobs``
tables, and every decision (a cron tick, a job claim, a job outcome) is a transaction. So a
restart, or several workers on one database, cannot run a mutation job twice or replay a burst of
missed cron runs. Time comes from the engine's runtime, so tests move a fake clock and call
``run_due`` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from livebase.engine.batch import Commit
from livebase.engine.database import Engine
from livebase.engine.transaction import Document, Transaction
from livebase.scheduler.cron import CronSpec
from livebase.scheduler.jobs import (
    CRON_JOBS,
    FAILED,
    FINISHED,
    IN_PROGRESS,
    PENDING,
    SCHEDULED_FUNCTIONS,
    insert_job,
    jobs_in_state,
    set_state,
)

log = logging.getLogger("livebase.scheduler")

Execute = Callable[[Document], Awaitable[None]]
"""Runs one job to its final state (supplied by the functions layer)."""

MAX_SLEEP = 30.0
HEARTBEAT_EVERY = 2.0
NODE_TIMEOUT_MS = 10_000.0
"""A node whose heartbeat is older than this is dead: its running actions are failed."""
RETRY_INITIAL = 0.5
RETRY_MAX = 3600.0
CLEANUP_EVERY = 3600.0


class Worker:
    def __init__(
        self,
        engine: Engine,
        execute: Execute,
        crons: Callable[[], Mapping[str, tuple[CronSpec, str]]],
        *,
        parallelism: int = 8,
        retention_seconds: float = 7 * 86400,
        node_id: str = "local",
    ) -> None:
        """``crons()`` gives the app's crons as ``name -> (spec, function kind)``; it is read
        again whenever ``crons_changed`` is called (an app reload)."""
        self.engine = engine
        self._execute = execute
        self._crons = crons
        self.parallelism = parallelism
        self.retention_seconds = retention_seconds
        self._running: dict[str, asyncio.Task[None]] = {}
        self._retry: dict[str, tuple[int, float]] = {}  # job id -> (attempts, not before)
        self._wake: asyncio.Event | None = None
        self._crons_dirty = True
        self._recovered = False
        self._last_cleanup: float | None = None
        self.node_id = node_id
        self.shared = engine.storage.shared
        self._last_heartbeat: float | None = None
        engine.add_commit_listener(self._on_commit)

    # -- signals ---------------------------------------------------------------------------------

    def now_ms(self) -> float:
        return self.engine.runtime.time_ns() / 1e6

    def poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def crons_changed(self) -> None:
        self._crons_dirty = True
        self.poke()

    def _on_commit(self, commits: list[Commit]) -> None:
        # may_write: another node's commits stay undecoded unless they may concern us
        for commit in commits:
            if commit.may_write(SCHEDULED_FUNCTIONS, CRON_JOBS):
                self.poke()
                return

    # -- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled."""
        self._wake = asyncio.Event()
        try:
            while True:
                self._wake.clear()
                delay = await self.tick()
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                    # that arrives as the event is set, and shutdown would then hang here.
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            for task in self._running.values():
                task.cancel()

    async def run_due(self) -> int:
        """Tick and wait for every job it started (and any they made due) to finish; returns
        how many jobs ran. For tests and one-shot tools."""
        ran = 0
        while True:
            await self.tick()
            if not self._running:
                return ran
            ran += len(self._running)
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def tick(self) -> float:
        """Do everything due now; returns how long to sleep before the next due work."""
        if self.shared:
            self._heartbeat()
        if not self._recovered or self.shared:
            # Alone on the database, only a restart can orphan a running action; with other
            # nodes, any of them may die at any time, so look every tick (a read; a write
            # transaction only when something is orphaned).
            orphans, _ = self.engine.read(self._orphans)
            if orphans:
                await self.engine.mutate(self._recover)
            self._recovered = True
        if self._crons_dirty:
            self._crons_dirty = False
            crons = dict(self._crons())
            await self.engine.mutate(lambda tx: _sync_crons(tx, crons, self.now_ms()))
        now = self.now_ms()
        next_cron, _ = self.engine.read(_next_cron)
        if next_cron is not None and next_cron <= now:
            next_cron = (await self.engine.mutate(lambda tx: _tick_crons(tx, now))).value
        due, next_job = self._due_jobs(now)
        for job in due:
            self._start(job)
        if self._last_cleanup is None or time.monotonic() - self._last_cleanup > CLEANUP_EVERY:
            self._last_cleanup = time.monotonic()
            await self.engine.mutate(self._cleanup)
        # With other nodes, tick at least as often as the heartbeat, or a long action running
        # here would look orphaned to them.
        longest = HEARTBEAT_EVERY if self.shared else MAX_SLEEP
        wake_at = min(x for x in (next_cron, next_job, now + longest * 1000) if x is not None)
        return max(0.0, min(longest, (wake_at - self.now_ms()) / 1000.0))

    def _due_jobs(self, now: float) -> tuple[list[Document], float | None]:
        free = self.parallelism - len(self._running)
        wanted = len(self._running) + len(self._retry) + max(free, 1)
        pending, _ = self.engine.read(lambda tx: jobs_in_state(tx, PENDING, limit=wanted))
        due: list[Document] = []
        next_at: float | None = None
        mono = time.monotonic()
        for job in pending:
            job_id = job["_id"]
            if job_id in self._running:
                continue
            retry = self._retry.get(job_id)
            at = float(job["scheduledTime"])
            if retry is not None and retry[1] > mono:
                at = max(at, now + (retry[1] - mono) * 1000.0)
            if at <= now and len(due) < free:
                due.append(job)
            elif at > now and (next_at is None or at < next_at):
                next_at = at
        return due, next_at

    def _start(self, job: Document) -> None:
        job_id = job["_id"]

        async def run() -> None:
            try:
                await self._execute(job)
                self._retry.pop(job_id, None)
            except Exception:
                attempts = self._retry.get(job_id, (0, 0.0))[0] + 1
                delay = min(RETRY_INITIAL * 2 ** (attempts - 1), RETRY_MAX)
                self._retry[job_id] = (attempts, time.monotonic() + delay)
                log.exception(
                    "scheduled %s (%s) hit a system error; retrying in %.1f s",
                    job.get("name"),
                    job_id,
                    delay,
                )
            finally:
                self._running.pop(job_id, None)
                self.poke()

        self._running[job_id] = asyncio.ensure_future(run())

    # -- transactions ----------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        now = self.now_ms()
        if self._last_heartbeat is not None and now - self._last_heartbeat < HEARTBEAT_EVERY * 1e3:
            return
        self._last_heartbeat = now
        with self.engine.storage.writer() as w:
            w.set_global(f"node:{self.node_id}", str(now))

    def _alive(self, tx: Transaction, job: Document) -> bool:
        node = job.get("worker")
        if node == self.node_id:
            # Ours: alive if we are running it now; else an earlier run of this node died.
            return job["_id"] in self._running
        if not self.shared or not isinstance(node, str):
            return False
        beat = tx.store.get_global(f"node:{node}")
        return beat is not None and self.now_ms() - float(beat) < NODE_TIMEOUT_MS

    def _orphans(self, tx: Transaction) -> list[Document]:
        running = jobs_in_state(tx, IN_PROGRESS, limit=10_000)
        return [job for job in running if not self._alive(tx, job)]

    def _recover(self, tx: Transaction) -> int:
        """Actions that were running on a node that stopped (this one before a restart, or a
        node that died) are failed, never re-run: a scheduled action runs at most once."""
        interrupted = self._orphans(tx)
        for job in interrupted:
            set_state(
                tx,
                job["_id"],
                FAILED,
                error="the server running this action stopped before it finished; scheduled "
                "actions are not retried (at most once)",
            )
        if interrupted:
            log.warning("marked %d interrupted scheduled actions failed", len(interrupted))
        return len(interrupted)

    def _cleanup(self, tx: Transaction) -> int:
        cutoff = self.now_ms() - self.retention_seconds * 1000.0
        removed = 0
        for kind in FINISHED:
            for job in jobs_in_state(tx, kind, before_ms=cutoff, limit=1000):
                finished_at = job.get("completedTime") or job["scheduledTime"]
                if float(finished_at) < cutoff:
                    tx.delete(job["_id"])
                    removed += 1
        return removed


def _cron_fields(spec: CronSpec, kind: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "schedule": spec.schedule,
        "function": spec.path,
        "kind": kind,
        "args": spec.args,
    }


def _sync_crons(tx: Transaction, crons: Mapping[str, tuple[CronSpec, str]], now: float) -> None:
    """Make ``_cron_jobs`` match the app's ``crons.py``: new and changed crons get a fresh
    schedule (an interval runs at once), removed ones go."""
    existing = {doc["name"]: doc for doc in tx.query(CRON_JOBS).collect()}
    for name, (spec, kind) in crons.items():
        fields = _cron_fields(spec, kind)
        doc = existing.pop(name, None)
        if doc is not None and all(doc.get(k) == x for k, x in fields.items()):
            continue
        fields["nextRunTime"] = spec.next_run_ms(now, None)
        if doc is None:
            tx.insert(CRON_JOBS, fields)
        else:
            keep: dict[str, Any] = {k: doc[k] for k in ("lastRunId", "lastRunTime") if k in doc}
            tx.replace(doc["_id"], {**fields, **keep})
    for doc in existing.values():
        tx.delete(doc["_id"])


def _next_cron(tx: Transaction) -> float | None:
    times = [float(doc["nextRunTime"]) for doc in tx.query(CRON_JOBS).collect()]
    return min(times) if times else None


def _tick_crons(tx: Transaction, now: float) -> float | None:
    """Enqueue one run of every due cron (unless its previous run is still going); returns when
    the next cron is due."""
    next_due: float | None = None
    for doc in tx.query(CRON_JOBS).collect():
        due_at = float(doc["nextRunTime"])
        if due_at <= now:
            spec = CronSpec(doc["name"], doc["schedule"], doc["function"], doc["args"])
            fields: dict[str, Any] = {"nextRunTime": spec.next_run_ms(now, due_at)}
            last = tx.get(doc["lastRunId"]) if doc.get("lastRunId") else None
            if last is not None and last["state"]["kind"] in (PENDING, IN_PROGRESS):
                log.warning(
                    "cron %s skipped: its previous run is still %s",
                    doc["name"],
                    last["state"]["kind"],
                )
                fields["skippedRuns"] = int(doc.get("skippedRuns", 0)) + 1
            else:
                fields["lastRunId"] = insert_job(
                    tx, doc["function"], doc["args"], now, kind=doc["kind"], cron=doc["name"]
                )
                fields["lastRunTime"] = now
            tx.patch(doc["_id"], fields)
            due_at = fields["nextRunTime"]
        if next_due is None or due_at < next_due:
            next_due = due_at
    return next_due
