"""Run one function call: find it, validate its arguments, execute it in the right kind of
transaction, capture its logs, and turn the outcome into a ``CallResult``.

Queries and mutations run on the event loop thread, synchronously, against the engine; an
``async def`` query or mutation is stepped to completion and may not await real I/O (that would
make it non-deterministic). One that computes past the inline budget is stopped and run in a
worker process instead (``offload``). Actions run in a worker process (``worker_process``; or, with
``LIVEBASE_ACTION_ISOLATION=thread``, a worker thread: ``action_pool``) and reach the database
only through ``ctx.run_query`` / ``ctx.run_mutation``, which come back to this loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
import weakref
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from livebase.config import FUNCTION_WALL_FACTOR
from livebase.cpu import thread_cpu
from livebase.engine.database import Engine
from livebase.engine.live_range import LiveRange
from livebase.engine.reads import ReadSet
from livebase.engine.transaction import OverBudget, Transaction
from livebase.envvars.view import EnvView, empty_view
from livebase.errors import (
    AppError,
    FunctionNotFoundError,
    IdempotencyKeyReusedError,
    InvalidValueError,
    LimitExceededError,
    LivebaseError,
    ValidationError,
)
from livebase.files.context import ActionStorage
from livebase.files.context import for_call as files_for_call
from livebase.files.service import FileService
from livebase.functions.action_pool import ActionPool
from livebase.functions.call_records import CallRecords, recorded
from livebase.functions.context import Auth, Capture, MutationCtx, QueryCtx
from livebase.functions.dev_errors import describe, server_error
from livebase.functions.idempotency import call_fingerprint
from livebase.functions.live_results import maintainable, plain
from livebase.functions.loader import App
from livebase.functions.nested import NestedCalls
from livebase.functions.offload import OFF_LOOP_TRIES, QueryOffload, Recorded, StaleRun, commit_run
from livebase.functions.registry import FunctionDef, Kind, canonical_path, function_path
from livebase.functions.sandbox import Frozen
from livebase.functions.scheduling import ActionScheduler, TxScheduler
from livebase.functions.slow_paths import SlowPaths
from livebase.functions.triggers import TriggerHook
from livebase.functions.watchdog import CallTimeout, watchdog
from livebase.functions.worker_errors import decode_error
from livebase.functions.worker_process import ActionTimedOut, ProcessPool, default_size
from livebase.logs.store import LogStore, log_source
from livebase.metrics import Counter
from livebase.values.types import check_value
from livebase.values.wire import dumps_bytes, from_wire, to_wire

log = logging.getLogger("livebase.functions")


@dataclass
class CallResult:
    value: Any = None
    error: BaseException | None = None
    log_lines: list[str] = field(default_factory=list)
    ts: int | None = None
    read_set: ReadSet | None = None
    request_id: str = ""
    """Set for failures and calls that wrote log lines, which are logged under it."""
    rejected: bool = False
    """True when the call never ran: unknown function, bad arguments."""
    journal: str | None = None
    """For a paginated query: where its page ended (see ``Query.paginate``)."""
    reads_identity: bool = True
    """False when the call never asked who was calling: the same result holds for anyone."""
    reads_env: bool = True
    """False when the call never looked at ``ctx.env``: changing a variable cannot change it."""
    detail: str = ""
    """Under ``livebase dev``, for a bug: its type, message and app frames (``dev_errors``)."""
    live: LiveRange | None = None
    """For a live subscription's run: the index range this result is, which later commits can
    be applied to instead of running the query again (``engine.live_range``)."""

    def error_message(self) -> str:
        """The message clients see: an ``AppError``'s own; for Livebase errors the code and
        message; for anything else (a bug) a generic one with the request id, followed under
        ``livebase dev`` by the bug's ``detail``."""
        err = self.error
        if isinstance(err, AppError):
            return err.message
        request_id = self.request_id or new_request_id()
        if isinstance(err, LivebaseError):
            return f"[Request ID: {request_id}] {err.code}: {err.message}"
        return server_error(request_id, self.detail)

    def error_data(self) -> Any:
        """``errorData`` for an ``AppError``, else None."""
        return self.error.data if isinstance(self.error, AppError) else None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class RunInfo:
    """What one run of a call did, beyond its result."""

    reads_identity: bool = True
    """Whether it asked who was calling (``ctx.auth``); unknown counts as yes."""
    reads_env: bool = True
    """Whether it looked at ``ctx.env``; unknown counts as yes."""
    record_ranges: bool = False
    """Asked by a live subscription: record the query's ``collect()`` ranges."""
    live: LiveRange | None = None
    """The index range the query's result is, whole and untouched (``live_results``)."""


def check_args_size(path: str, args: Any, limit: int) -> None:
    """``ArgumentsTooLarge`` (400) if ``args`` is more than ``limit`` bytes written as wire JSON
    (``LIVEBASE_MAX_ARGS_BYTES``, 16 MiB): the one measure for every way a function is called
    (the HTTP API, the WebSocket, ``ctx.run_*``)."""
    size = len(dumps_bytes(to_wire(args))) if isinstance(args, dict) else 0
    if size > limit:
        raise LimitExceededError(
            f"arguments to {path} are {size} bytes; the limit is {limit} (LIVEBASE_MAX_ARGS_BYTES)",
            code="ArgumentsTooLarge",
        )


def new_request_id() -> str:
    return os.urandom(8).hex()


class Failed(Exception):
    """Carries a function's exception and its log lines out of a transaction."""

    def __init__(self, error: BaseException, log_lines: list[str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.log_lines = log_lines


def drive_coroutine(coro: Any) -> Any:
    """Run a coroutine that must not suspend on real I/O to completion, synchronously."""
    try:
        while True:
            yielded = coro.send(None)
            if yielded is not None:
                raise InvalidValueError(
                    "queries and mutations cannot await I/O (it would make them "
                    "non-deterministic); do I/O in an action",
                    code="NonDeterministicAwait",
                )
    except StopIteration as stop:
        return stop.value
    finally:
        coro.close()


class Runner:
    def __init__(self, engine: Engine, app: App) -> None:
        self.engine = engine
        self._app = app
        self._processes: ProcessPool | None = None
        self.env: Callable[[], EnvView] = empty_view
        """``ctx.env`` for a call starting now (the deployment sets ``EnvStore.view``)."""
        self.files: FileService | None = None
        """``ctx.storage``'s files (the deployment sets them)."""
        self.executions = Counter(
            "livebase_function_executions_total",
            "Function executions (queries re-run by subscriptions included).",
            ("path", "kind"),
        )
        self.actions = ActionPool(engine.settings.action_threads)
        self.slow = SlowPaths(engine.settings.inline_budget_ms / 1e3)
        """Queries and mutations seen holding the loop past the inline budget."""
        self.offload = QueryOffload(self)
        """Where slow queries run (worker processes), once the server says where the database
        is."""
        self.logs = LogStore()
        self.calls = CallRecords()
        """Arguments, result and timing of the calls with a request id (the dashboard's)."""
        """Every function's log lines and failures (``livebase logs``; see ``livebase.logs``)."""
        engine.change_hook = TriggerHook(
            lambda: self.app.triggers, lambda tx: TxScheduler(tx, self)
        )
        self._watch_unload(app)
        if engine.settings.action_isolation == "process" and any(
            fd.kind == "action" for fd in app.functions.values()
        ):
            self.processes.warm()  # the first action need not wait for a process to start

    def _watch_unload(self, app: App) -> None:
        """When the current app is unloaded for good (not replaced by a reload), its action
        workers stop."""
        ref = weakref.ref(self)

        def unloaded() -> None:
            runner = ref()
            if runner is not None and runner._app is app:
                runner.close()

        app.on_unload.append(unloaded)

    @property
    def app(self) -> App:
        return self._app

    @app.setter
    def app(self, app: App) -> None:
        """A reloaded app: action workers are replaced by ones that load the new code."""
        self._app = app
        self._watch_unload(app)
        if self._processes is not None:
            self._processes.reload(app.root)
        self.offload.reload(app.root)

    @property
    def processes(self) -> ProcessPool:
        """The action worker processes (started on first use, kept warm)."""
        if self._processes is None:
            settings = self.engine.settings
            size = settings.action_processes or default_size()
            self._processes = ProcessPool(self._app.root, size, nice=settings.action_nice)
            weakref.finalize(self, self._processes.close)
        return self._processes

    def close(self) -> None:
        """Stop the action worker processes (the server is stopping)."""
        if self._processes is not None:
            self._processes.close()
        self.offload.close()

    # -- lookup and arguments --------------------------------------------------------------------

    def lookup(self, path: str, kind: Kind | None, *, admin: bool) -> FunctionDef:
        canonical = canonical_path(path)
        fd = self.app.functions.get(canonical)
        if fd is None or (fd.internal and not admin):
            raise FunctionNotFoundError(f"Could not find public function for '{canonical}'")
        if kind is not None and fd.kind != kind:
            raise FunctionNotFoundError(
                f"'{canonical}' is a {fd.kind}, not a {kind}; call it with /api/{fd.kind} "
                f"or ctx.run_{fd.kind}"
            )
        return fd

    def check_args(self, fd: FunctionDef, args: Any) -> dict[str, Any]:
        if not isinstance(args, dict):
            raise ValidationError(
                f"arguments to {fd.path} must be an object, got {type(args).__name__}",
                code="ArgumentValidationError",
            )
        extra = {}
        if fd.accepts_extra:
            known = getattr(fd.args, "fields", {})
            extra = {k: x for k, x in args.items() if k not in known}
            args = {k: x for k, x in args.items() if k in known}
            check_value(extra)  # declared arguments are checked by their validators
        try:
            checked: dict[str, Any] = fd.args.validate(args, "", self._table_name)
        except ValidationError as exc:
            raise ValidationError(
                f"invalid arguments for {fd.path}: {exc.message}",
                path=exc.path,
                code="ArgumentValidationError",
            ) from None
        return {**checked, **extra}

    def _table_name(self, number: int) -> str | None:
        t = self.engine.catalog.by_number(number)
        return t.name if t else None

    def _count(self, fd: FunctionDef) -> None:
        self.executions.inc(fd.path, fd.kind)

    # -- queries and mutations -------------------------------------------------------------------

    def call_body(
        self,
        fd: FunctionDef,
        args: dict[str, Any],
        identity: dict[str, Any] | None,
        journal: str | None = None,
        run: RunInfo | None = None,
        budget: float | None = None,
    ) -> Callable[[Transaction], tuple[Any, list[str]]]:
        """The call as a transaction body; ``run``, if given, learns what the last run did.
        With a ``budget`` (seconds), a call still running then is stopped with ``OverBudget``
        (to be run off the loop) instead of running up to the time limit."""
        limits = self.engine.settings.limits
        seconds = limits.max_function_seconds
        if budget is not None and self.engine.storage.interrupt_safe:
            seconds = budget  # else only at the transaction's safe points (``tx.stop_at``)
        # The budget counts CPU time only: a fast call that waited for the CPU (a busy machine,
        # another thread holding the GIL) is not slow. The wall-clock backstop is the limit's.
        wall = limits.max_function_seconds * FUNCTION_WALL_FACTOR

        def body(tx: Transaction) -> tuple[Any, list[str]]:
            tx.page_journal = journal
            if run is not None and run.record_ranges and fd.kind == "query":
                tx.collected = []
            if budget is not None:
                tx.stop_at(budget)
            # Same function at the same snapshot -> same random sequence (re-runs agree).
            seed = zlib.crc32(f"{fd.path}:{tx.snapshot_ts}".encode())
            with Capture(limits.max_log_lines) as call_log:
                try:
                    frozen = Frozen(tx.now_ms, seed)
                    with frozen as rng:
                        ctx: QueryCtx
                        auth, env = Auth(identity), self.env()
                        if fd.kind == "mutation":
                            ctx = mctx = MutationCtx(tx, rng, auth, env)
                            mctx.scheduler = TxScheduler(tx, self)
                        else:
                            ctx = QueryCtx(tx, rng, auth, env)
                        ctx.calls = NestedCalls(self, tx, auth, env)
                        ctx.storage = files_for_call(tx, self.files, fd.kind)
                        started, stopped, moved = thread_cpu(), False, False
                        wall_started = time.monotonic()
                        try:
                            with watchdog.limit(seconds, wall):
                                value = fd.fn(ctx, **args)
                                if fd.is_async:
                                    value = drive_coroutine(value)
                            # Now, before Livebase's own logging below reads the (frozen) clock.
                            varied = frozen.varies
                        except OverBudget:  # at a safe point (``tx.stop_at``)
                            stopped = moved = True
                            raise
                        except CallTimeout:  # at the budget or the limit: slow either way
                            stopped, moved = True, budget is not None and seconds == budget
                            raise
                        finally:
                            # After the call, so a C call the watchdog could not stop counts.
                            # CPU time, like the budget: 0.7 us a read here, and a call that
                            # only waited for the CPU, or paid for a garbage collection, is not
                            # marked slow for it.
                            used = time.monotonic() - wall_started
                            if used > self.slow.budget:  # else CPU time cannot be over it
                                used = thread_cpu() - started
                            if stopped:
                                used = max(used, self.slow.budget * 1.001)
                            self.slow.observe(fd.path, fd.kind, used)
                            if not moved:
                                self._count(fd)  # else it runs again in a worker: counted then
                        if run is not None:
                            run.reads_identity, run.reads_env = auth.used, env.used
                            if tx.collected is not None:
                                run.live = maintainable(
                                    fd, tx, value, table_name=self._table_name,
                                    nondeterministic=varied,
                                )  # fmt: skip
                                value = plain(value)
                    tx.check_deadline()
                    value = self.checked_result(fd, value)
                except OverBudget:
                    raise
                except CallTimeout:
                    if budget is not None and seconds == budget:
                        raise OverBudget from None
                    call_log.flush()
                    raise Failed(self._timeout(fd), call_log.lines) from None
                except Exception as exc:
                    call_log.flush()
                    raise Failed(exc, call_log.lines) from exc
            return value, call_log.lines

        return body

    def checked_result(self, fd: FunctionDef, value: Any) -> Any:
        """``value`` checked against the function's ``returns`` validator (if it has one)."""
        if fd.returns is not None:
            try:
                value = fd.returns.validate(value, "", self._table_name)
            except ValidationError as exc:
                raise ValidationError(
                    f"{fd.path} returned a value that does not match its `returns` validator: "
                    f"{exc.message}",
                    code="ReturnsValidationError",
                ) from None
        check_value(value)
        return value

    def run_query(
        self,
        path: str,
        args: Any,
        *,
        admin: bool = False,
        identity: dict[str, Any] | None = None,
        at_ts: int | None = None,
        journal: str | None = None,
        live: bool = False,
    ) -> CallResult:
        """Run a query here, on this thread (see ``run_query_async`` for the server's way).
        ``live``: for a subscription, record the range its result may be (``CallResult.live``)."""
        call = self._prepared(path, "query", args, admin)
        if isinstance(call, CallResult):
            return call
        result = self._query_inline(*call, identity, at_ts, journal, record_ranges=live)
        assert result is not None
        return result

    @recorded("query")
    async def run_query_async(
        self,
        path: str,
        args: Any,
        *,
        admin: bool = False,
        identity: dict[str, Any] | None = None,
        at_ts: int | None = None,
        journal: str | None = None,
    ) -> CallResult:
        """Run a query on the event loop, or in a worker process if it is slow (``offload``):
        a query known to be slow goes straight to a worker; any other is stopped at the inline
        budget and run again in a worker."""
        call = self._prepared(path, "query", args, admin)
        if isinstance(call, CallResult):
            return call
        result = self._query_here_first(*call, identity, at_ts, journal)
        if result is None:
            return await self.query_off_loop(*call, identity, at_ts, journal)
        return result

    def run_query_within_budget(
        self,
        path: str,
        args: Any,
        *,
        admin: bool = False,
        identity: dict[str, Any] | None = None,
        journal: str | None = None,
        live: bool = False,
    ) -> CallResult | tuple[FunctionDef, dict[str, Any]]:
        """For a live subscription: the query's result, run here within the inline budget;
        or, for a slow query, its function and checked arguments, to run in a worker
        (``query_off_loop``)."""
        call = self._prepared(path, "query", args, admin)
        if isinstance(call, CallResult):
            return call
        result = self._query_here_first(*call, identity, None, journal, live)
        return call if result is None else result

    def _prepared(
        self, path: str, kind: Kind, args: Any, admin: bool
    ) -> tuple[FunctionDef, dict[str, Any]] | CallResult:
        """The function and its checked arguments, or the rejection to answer."""
        try:
            fd = self.lookup(path, kind, admin=admin)
            return fd, self.check_args(fd, args)
        except LivebaseError as exc:
            return self._rejected(path, kind, exc)

    def _query_here_first(
        self,
        fd: FunctionDef,
        checked: dict[str, Any],
        identity: dict[str, Any] | None,
        at_ts: int | None,
        journal: str | None,
        record_ranges: bool = False,
    ) -> CallResult | None:
        """The query's result run here, within the inline budget if slow queries can move;
        None if it is (or just turned out) slow and belongs in a worker."""
        if not self.offload.can_run(fd.path):
            return self._query_inline(
                fd, checked, identity, at_ts, journal, record_ranges=record_ranges
            )
        if self.offload.in_worker(fd.path):
            return None
        return self._query_inline(
            fd, checked, identity, at_ts, journal, self.slow.budget, record_ranges
        )

    def _query_inline(
        self,
        fd: FunctionDef,
        checked: dict[str, Any],
        identity: dict[str, Any] | None,
        at_ts: int | None,
        journal: str | None,
        budget: float | None = None,
        record_ranges: bool = False,
    ) -> CallResult | None:
        """The query's result, run on this thread; None if it ran past ``budget``."""
        run = RunInfo(record_ranges=record_ranges)
        body = self.call_body(fd, checked, identity, journal, run, budget)
        try:
            if at_ts is None:
                (value, lines), tx = self.engine.read(body)
            else:
                (value, lines), tx = self.engine.read_at(at_ts, body)
        except OverBudget:
            return None
        except Failed as failed:
            return self._failure(fd, failed.error, failed.log_lines)
        except LivebaseError as exc:
            return self._failure(fd, exc, [])
        request_id = new_request_id() if lines else ""
        if lines:
            self.logs.record(fd.path, "query", lines, request_id, log_source.get())
        return CallResult(
            value,
            None,
            lines,
            tx.snapshot_ts,
            tx.read_set,
            journal=tx.page_end,
            request_id=request_id,
            reads_identity=run.reads_identity,
            reads_env=run.reads_env,
            live=None if lines else run.live,
        )

    async def query_off_loop(
        self,
        fd: FunctionDef,
        checked: dict[str, Any],
        identity: dict[str, Any] | None,
        at_ts: int | None = None,
        journal: str | None = None,
    ) -> CallResult:
        """Run the query in a worker process (``offload``); the same result as inline."""
        try:
            outcome = await self.offload.run(self, fd.path, checked, identity, at_ts, journal)
        except ActionTimedOut:
            self._count(fd)
            return self._failure(fd, self._timeout(fd), [])
        except Exception:  # the pool itself failed (no worker could start): here after all
            log.exception("query %s could not run in a worker; running it here", fd.path)
            result = self._query_inline(fd, checked, identity, at_ts, journal)
            assert result is not None
            return result
        self._count(fd)  # here: the worker's own count is not this server's metric
        if not outcome.ok:
            error = decode_error(outcome.payload, "the query worker")
            return self._failure(fd, error, outcome.log_lines)
        request_id = new_request_id() if outcome.log_lines else ""
        if outcome.log_lines:
            self.logs.record(fd.path, "query", outcome.log_lines, request_id, log_source.get())
        return CallResult(
            from_wire(outcome.payload),
            None,
            outcome.log_lines,
            outcome.ts,
            outcome.read_set,
            journal=outcome.journal,
            request_id=request_id,
            reads_identity=outcome.reads_identity,
            reads_env=outcome.reads_env,
        )

    @recorded("mutation")
    async def run_mutation(
        self,
        path: str,
        args: Any,
        *,
        admin: bool = False,
        identity: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> CallResult:
        """Run a mutation: in the server's commit pipeline, or, if it is slow, in a worker
        process whose writes the pipeline commits if what it read still holds (``offload``)."""
        call = self._prepared(path, "mutation", args, admin)
        if isinstance(call, CallResult):
            return call
        fd, checked = call
        record = Recorded(
            None if idempotency_key is None else f"request:{idempotency_key}",
            None
            if idempotency_key is None
            else call_fingerprint(fd.path, args, admin=admin, identity=identity),
        )
        budget = None
        if self.offload.can_run(fd.path):
            if self.offload.in_worker(fd.path):
                result = await self._mutation_off_loop(fd, checked, identity, record)
                if result is not None:
                    return result
            else:
                budget = self.slow.budget
        body = self.call_body(fd, checked, identity, budget=budget)
        result = await self._commit(fd, body, record, optimistic=True)
        if result is None:  # stopped at the budget: run it in a worker
            result = await self._mutation_off_loop(fd, checked, identity, record)
        if result is None:  # the worker could not run it: here, whatever it costs
            body = self.call_body(fd, checked, identity)
            result = await self._commit(fd, body, record, optimistic=True)
        assert result is not None
        return result

    async def _commit(
        self,
        fd: FunctionDef,
        body: Callable[[Transaction], Any],
        record: Recorded,
        *,
        optimistic: bool = False,
    ) -> CallResult | None:
        """Commit ``body`` (giving ``(value, log_lines)``); None if it stopped at the inline
        budget or, run off the loop, read something a later commit changed. ``optimistic``:
        the body is the app's function, which reads only through its transaction
        (``Engine.mutate``)."""
        try:
            outcome = await self.engine.mutate(
                body,
                record_key=record.key,
                encode=lambda r: {"value": to_wire(r[0]), "logLines": r[1]},
                decode=lambda d: (from_wire(d["value"]), d["logLines"]),
                fingerprint=record.fingerprint,
                optimistic=optimistic,
            )
        except (OverBudget, StaleRun):
            return None
        except Failed as failed:
            return self._failure(fd, failed.error, failed.log_lines)
        except IdempotencyKeyReusedError as exc:
            return self._rejected(fd.path, "mutation", exc)
        except LivebaseError as exc:
            return self._failure(fd, exc, [])
        value, lines = outcome.value
        request_id = new_request_id() if lines else ""
        if lines:
            self.logs.record(fd.path, "mutation", lines, request_id, log_source.get())
        return CallResult(value, None, lines, outcome.ts, None, request_id=request_id)

    async def _mutation_off_loop(
        self,
        fd: FunctionDef,
        checked: dict[str, Any],
        identity: dict[str, Any] | None,
        record: Recorded,
    ) -> CallResult | None:
        """Run the mutation in a worker and commit its writes; None if it must run here (it
        did something a worker cannot, or kept reading what other commits changed)."""
        for _ in range(OFF_LOOP_TRIES):
            try:
                run = await self.offload.run_mutation(self, fd.path, checked, identity)
            except ActionTimedOut:
                self._count(fd)
                return self._failure(fd, self._timeout(fd), [])
            except Exception:  # the pool itself failed: here after all
                log.exception("mutation %s could not run in a worker; running it here", fd.path)
                return None
            if run.needs_server is not None:
                return None
            self._count(fd)
            result = await self._commit(fd, functools.partial(commit_run, run), record)
            if result is not None:
                return result
        return None

    def _timeout(self, fd: FunctionDef) -> LimitExceededError:
        limit = self.engine.settings.limits.max_function_seconds
        return LimitExceededError(
            f"{fd.path} ran longer than {limit} s (LIVEBASE_MAX_FUNCTION_SECONDS)",
            code="FunctionTimeout",
        )

    def _failure(self, fd: FunctionDef, error: BaseException, lines: list[str]) -> CallResult:
        request_id = new_request_id()
        detail = ""
        if isinstance(error, AppError):
            logged = f"Uncaught AppError: {error.message}"
        elif isinstance(error, LivebaseError):
            logged = f"{error.code}: {error.message}"
        else:
            log.error("[Request ID: %s] %s %s failed", request_id, fd.kind, fd.path, exc_info=error)
            logged = describe(error, self.app.root)  # the admin's log shows it under serve too
            if self.engine.settings.dev:
                detail = logged
        self.logs.record(fd.path, fd.kind, lines, request_id, log_source.get(), logged)
        return CallResult(error=error, log_lines=lines, request_id=request_id, detail=detail)

    def _rejected(self, path: str, kind: Kind, error: LivebaseError) -> CallResult:
        """A call that never ran (unknown function, bad arguments): logged as a failure."""
        request_id = new_request_id()
        message = f"{error.code}: {error.message}"
        self.logs.record(str(path), kind, (), request_id, log_source.get(), message)
        return CallResult(error=error, rejected=True, request_id=request_id)

    # -- actions ---------------------------------------------------------------------------------

    @recorded("action")
    async def run_action(
        self,
        path: str,
        args: Any,
        *,
        admin: bool = False,
        identity: dict[str, Any] | None = None,
        nested: bool = False,
    ) -> CallResult:
        """Run an action in the action pool (never on this event loop; see ``action_pool``).
        ``nested``: called by another action, so it never waits for a free thread."""
        call = self._prepared(path, "action", args, admin)
        if isinstance(call, CallResult):
            return call
        fd, checked = call
        self._count(fd)
        if self.engine.settings.action_isolation == "process":
            return await self._run_action_in_process(fd, checked, identity, nested)
        limits = self.engine.settings.limits
        ctx = ActionCtx(self, asyncio.get_running_loop(), identity)
        with Capture(limits.max_log_lines) as call_log:
            job = self.actions.submit(fd.fn, (ctx,), checked, is_async=fd.is_async, nested=nested)
            try:
                value = await asyncio.wait_for(
                    asyncio.wrap_future(job.future), limits.max_action_seconds
                )
                value = self.checked_result(fd, value)
            except TimeoutError:
                job.cancel()
                ctx.close()
                error: BaseException = LimitExceededError(
                    f"action ran longer than {limits.max_action_seconds} s", code="ActionTimeout"
                )
                return self._failure(fd, error, call_log.lines)
            except Exception as exc:
                call_log.flush()
                return self._failure(fd, exc, call_log.lines)
            finally:
                ctx.close()
        request_id = new_request_id() if call_log.lines else ""
        if call_log.lines:
            self.logs.record(fd.path, "action", call_log.lines, request_id, log_source.get())
        return CallResult(value, None, call_log.lines, None, None, request_id=request_id)

    async def _run_action_in_process(
        self, fd: FunctionDef, args: dict[str, Any], identity: dict[str, Any] | None, nested: bool
    ) -> CallResult:
        """Run an action in a worker process; its ``ctx`` calls are performed here by an
        ``ActionCtx``, as for an action in this process."""
        limits = self.engine.settings.limits
        ctx = ActionCtx(self, asyncio.get_running_loop(), identity)
        request_id = new_request_id()
        with Capture(limits.max_log_lines) as call_log:
            try:
                value = await self.processes.run(
                    fd.path,
                    args,
                    identity,
                    request_id=request_id,
                    seconds=limits.max_action_seconds,
                    log_limit=limits.max_log_lines,
                    perform=ctx.perform,
                    on_log=call_log.lines.append,
                    nested=nested,
                )
                value = self.checked_result(fd, value)
            except ActionTimedOut:
                error: BaseException = LimitExceededError(
                    f"action ran longer than {limits.max_action_seconds} s", code="ActionTimeout"
                )
                return self._failure(fd, error, call_log.lines)
            except Exception as exc:
                return self._failure(fd, exc, call_log.lines)
            finally:
                ctx.close()
        if call_log.lines:
            self.logs.record(fd.path, "action", call_log.lines, request_id, log_source.get())
        return CallResult(
            value, None, call_log.lines, None, None, request_id=request_id if call_log.lines else ""
        )


class ActionCtx:
    """``ctx`` in an action. In an ``async def`` action, ``await ctx.run_query(...)``; in a plain
    ``def`` action (which runs in a worker thread) the same calls return the value directly."""

    def __init__(
        self, runner: Runner, loop: asyncio.AbstractEventLoop, identity: dict[str, Any] | None
    ) -> None:
        self._runner = runner
        self._loop = loop
        self._loop_thread = threading.get_ident()  # created by run_action, on the loop thread
        self._closed = False
        self.auth = Auth(identity)
        self.env = runner.env()
        """The environment variables as this action (or HTTP route) started."""
        self._identity = identity
        self.scheduler = ActionScheduler(runner, self._commit)
        self.storage = ActionStorage(
            runner.files, self._commit, lambda: threading.get_ident() == self._loop_thread
        )

    def _commit(self, fn: Callable[[Transaction], Any]) -> Any:
        async def make() -> CallResult:
            outcome = await self._runner.engine.mutate(fn)
            return CallResult(outcome.value, ts=outcome.ts)

        return self._call(make)

    def close(self) -> None:
        """The action has returned or timed out: a worker thread still running it may not
        reach the database any more."""
        self._closed = True
        self.storage.close()  # files a worker left half-written

    def _call(self, make: Callable[[], Awaitable[CallResult]]) -> Any:
        if self._closed:
            raise LimitExceededError(
                "this action already finished or timed out; it cannot call functions any more",
                code="ActionFinished",
            )

        async def run() -> Any:
            result = await make()
            if result.error is not None:
                raise result.error
            return result.value

        if threading.get_ident() == self._loop_thread:
            return run()  # an HTTP route handler, on the server's loop
        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            action_loop = asyncio.get_running_loop()
        except RuntimeError:
            return future.result()  # a plain ``def`` action: block its worker thread
        return asyncio.wrap_future(future, loop=action_loop)  # ``await`` it in an async action

    def _sized(self, path: str, args: dict[str, Any] | None) -> dict[str, Any]:
        """The same argument size limit as calls over HTTP or the WebSocket."""
        args = args or {}
        check_args_size(path, args, self._runner.engine.settings.limits.max_args_bytes)
        return args

    def run_query(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a query (by path ``"module:function"`` or the decorated function) and give its
        value; like every call here, ``await`` it in an ``async def`` action."""
        path = function_path(fn, "ctx.run_query", "query")
        checked = self._sized(path, args)

        async def make() -> CallResult:
            return await self._runner.run_query_async(
                path, checked, admin=True, identity=self._identity
            )

        return self._call(make)

    def run_mutation(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation (by path or the decorated function) in its own transaction."""
        path = function_path(fn, "ctx.run_mutation", "mutation")
        checked = self._sized(path, args)
        return self._call(
            lambda: self._runner.run_mutation(path, checked, admin=True, identity=self._identity)
        )

    def run_action(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        """Run another action (by path or the decorated function)."""
        path = function_path(fn, "ctx.run_action", "action")
        checked = self._sized(path, args)
        return self._call(
            lambda: self._runner.run_action(
                path, checked, admin=True, identity=self._identity, nested=True
            )
        )

    def vector_search(
        self,
        table: str,
        index: str,
        *,
        vector: Any,
        limit: Any = None,
        filter: Any = None,
    ) -> Any:
        """Convex's ``ctx.vectorSearch``: ``[{"_id", "_score"}]`` best first (see
        ``docs/vector-search.md``); ``await`` it in an ``async def`` action."""
        from livebase.engine.vector_search import vector_search

        async def make() -> CallResult:
            value, _ = self._runner.engine.read(
                lambda tx: vector_search(tx, table, index, vector, limit, filter)
            )
            return CallResult(value)

        return self._call(make)

    async def perform(self, method: str, payload: Any) -> Any:
        """One ``ctx`` call of an action running in a worker process (``worker_main``), made
        here on the server's loop: ``payload`` holds wire JSON arguments."""
        if method == "cancel":
            return await self.scheduler.cancel(payload)
        if method == "env":  # the worker's ctx.env, on first use
            return dict(self.env)
        if method == "storage":  # ctx.storage (livebase.files.worker)
            return await self.storage.perform(*payload)
        if method == "vector_search":  # ctx.vector_search, the filter as [[field, value]]
            from livebase.vectors.filters import filter_from_wire

            table, index, vector, limit, eqs = payload
            flt = filter_from_wire(from_wire(eqs))  # type: ignore[arg-type]
            return await self.vector_search(table, index, vector=vector, limit=limit, filter=flt)
        if method in ("run_after", "run_at"):
            when, target, job_args = payload
            schedule = getattr(self.scheduler, method)
            return await schedule(when, target, from_wire(job_args))
        path, wire_args = payload
        args: Any = from_wire(wire_args)
        if method == "run_query":
            return await self.run_query(path, args)
        if method == "run_mutation":
            return await self.run_mutation(path, args)
        if method == "run_action":
            return await self.run_action(path, args)
        raise ValueError(f"an action worker asked for an unknown call {method!r}")
