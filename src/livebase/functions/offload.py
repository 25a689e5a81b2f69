"""Slow queries and mutations run in worker processes, so that one cannot stall every other
client.

Queries run on the server's event loop, where they are cheapest (no copy, no hop). A query that
runs past the inline budget (``LIVEBASE_INLINE_BUDGET_MS``) is stopped there by the watchdog
(on PostgreSQL, at its next read or write: ``Transaction.stop_at``; ``Storage.interrupt_safe``),
marked slow (``slow_paths``) and run again in a worker process (``query_worker``); while its
path stays marked slow, its calls go straight to a worker. Stopping and re-running is safe
because a query only reads: the second run sees a snapshot at least as new and gives the answer
the first would have given there.

A slow mutation is handled the same way, except that the worker cannot write: it runs the
mutation over an in-memory overlay of its snapshot and the server commits the recorded writes
if nothing the mutation read changed meanwhile (``engine.overlay``; ``Runner.run_mutation``).

The workers are a pool of their own (``LIVEBASE_QUERY_PROCESSES``), apart from the actions', so
a burst of slow queries waits for a free worker instead of starving the loop, and busy actions
do not delay queries. A worker is killed at the query's wall-clock limit, so even a query stuck
in a long C call stops there.

The pool needs to know where the deployment's database is: the server tells it
(``Runner.offload.deployment``). Without that (the in-process test kit), every query runs inline.
``LIVEBASE_QUERY_ISOLATION=process`` sends every call to a worker; the platform's own
``_system/`` functions never go (a worker's app does not have them).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livebase.config import FUNCTION_WALL_FACTOR
from livebase.engine.catalog import CATALOG_KEY
from livebase.engine.overlay import replay, stale_reads
from livebase.engine.transaction import Transaction
from livebase.functions.query_worker import (
    Deployment,
    MutationJob,
    MutationRun,
    QueryJob,
    QueryOutcome,
)
from livebase.functions.worker_errors import decode_error
from livebase.functions.worker_process import ProcessPool, default_size
from livebase.storage.base import StorageWriter
from livebase.values.wire import from_wire, to_wire

if TYPE_CHECKING:
    from livebase.functions.runner import Runner

SYSTEM_PREFIX = "_system/"
"""Functions the platform adds to every app (``livebase.dashboard``): never in a worker."""

OFF_LOOP_TRIES = 3
"""Worker runs of a slow mutation whose reads a concurrent commit changed, before it runs in
the server instead (so a mutation of a hot document still commits)."""

KILL_AFTER_SECONDS = 1.0
"""How long past a query's wall-clock limit its worker is killed (the watchdog in the worker
stops a Python loop at the limit; this is for a C call or a stuck system call)."""


@dataclass(frozen=True)
class Recorded:
    """How a mutation's outcome is kept for its idempotency key (``Engine.mutate``)."""

    key: str | None
    fingerprint: str | None


class StaleRun(Exception):
    """A commit since the worker's snapshot changed what the mutation read: run it again."""


def commit_run(run: MutationRun, tx: Transaction) -> tuple[Any, list[str]]:
    """In the server's write transaction ``tx``: replay a worker's mutation if what it read
    still holds (``StaleRun`` if not), giving ``(value, log_lines)``; its failure, likewise
    checked, is raised as the mutation's own."""
    from livebase.functions.runner import Failed

    writer = tx.store
    assert isinstance(writer, StorageWriter) and run.read_set is not None
    if writer.get_global(CATALOG_KEY) != run.catalog:
        raise StaleRun("the catalog changed")
    if stale_reads(writer, run.read_set, run.snapshot_ts):
        raise StaleRun("a commit changed what it read")
    if not run.ok:
        raise Failed(decode_error(run.payload, "the mutation worker"), run.log_lines)
    replay(writer, run.ops)
    tx.writes.extend(run.writes)
    tx.bytes_written += run.bytes_written
    tx._last_creation_time = max(tx._last_creation_time, run.last_creation_time)
    return from_wire(run.payload), run.log_lines


class QueryOffload:
    """The query worker pool of one runner."""

    def __init__(self, runner: Runner) -> None:
        self._runner = weakref.ref(runner)
        self.deployment: Callable[[], Deployment] | None = None
        """Where the database is, set by the server; None: queries always run inline."""
        self._pool: ProcessPool | None = None

    @property
    def available(self) -> bool:
        runner = self._runner()
        return (
            self.deployment is not None
            and runner is not None
            and runner.engine.settings.query_processes >= 0
            and (runner.slow.budget > 0 or runner.engine.settings.query_isolation == "process")
        )

    def can_run(self, path: str) -> bool:
        """Whether a call of ``path`` may run in a worker: the pool is available and the
        function is the app's own. The platform's ``_system/...`` functions (the dashboard's)
        are added by the server and read its own state (logs, metrics): they stay here."""
        return self.available and not path.startswith(SYSTEM_PREFIX)

    def in_worker(self, path: str) -> bool:
        """Whether a call of ``path`` goes straight to a worker: it is known to be slow, or
        every query and mutation runs in one (``LIVEBASE_QUERY_ISOLATION=process``)."""
        runner = self._runner()
        if runner is None:
            return False
        return runner.engine.settings.query_isolation == "process" or runner.slow.is_slow(path)

    def pool(self, runner: Runner) -> ProcessPool:
        if self._pool is None:
            settings = runner.engine.settings
            size = settings.query_processes or default_size()
            self._pool = ProcessPool(runner.app.root, size, nice=0)
        return self._pool

    def warm(self) -> None:
        """With every call in a worker (``LIVEBASE_QUERY_ISOLATION=process``), start the whole
        pool now, so that no caller waits for a process to start."""
        runner = self._runner()
        if runner is not None and self.available:
            if runner.engine.settings.query_isolation == "process":
                pool = self.pool(runner)
                pool.warm(pool.size)

    def reload(self, app_root: Any) -> None:
        if self._pool is not None:
            self._pool.reload(app_root)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    async def run(
        self,
        runner: Runner,
        path: str,
        args: dict[str, Any],
        identity: dict[str, Any] | None,
        at_ts: int | None,
        journal: str | None,
    ) -> QueryOutcome:
        """Run the query in a worker; raises ``ActionTimedOut`` at its wall-clock limit."""
        job = QueryJob(path, to_wire(args), identity, journal, at_ts)
        outcome: QueryOutcome = await self._offload(runner, "query", path, job)
        return outcome

    async def run_mutation(
        self, runner: Runner, path: str, args: dict[str, Any], identity: dict[str, Any] | None
    ) -> MutationRun:
        """Run the mutation in a worker against an overlay of the latest snapshot; the caller
        commits what it gives (``engine.overlay``). ``ActionTimedOut`` at its limit."""
        last_ct = runner.engine._last_creation_time
        job = MutationJob(path, to_wire(args), identity, last_ct)
        outcome: MutationRun = await self._offload(runner, "mutation", path, job)
        return outcome

    async def _offload(self, runner: Runner, kind: str, path: str, job: Any) -> Any:
        assert self.deployment is not None
        limit = runner.engine.settings.limits.max_function_seconds
        started = time.perf_counter()

        async def perform(method: str, payload: Any) -> Any:
            if method == "env":  # ctx.env, on first use: the server holds the key
                return dict(runner.env())
            raise ValueError(f"a {kind} worker asked for {method!r}, which {kind}s cannot do")

        try:
            return await self.pool(runner).run_offloaded(
                kind,
                self.deployment(),
                job,
                seconds=limit * FUNCTION_WALL_FACTOR + KILL_AFTER_SECONDS,
                perform=perform,
            )
        finally:
            # Keeps the path marked slow while it is slow (a function that got fast is probed
            # inline again once the mark expires).
            runner.slow.still_slow(path, time.perf_counter() - started)


__all__ = [
    "KILL_AFTER_SECONDS",
    "OFF_LOOP_TRIES",
    "QueryOffload",
    "Recorded",
    "StaleRun",
    "commit_run",
]
