"""An app loaded in-process for a test: a fresh database, a fake clock, and calls by path or by
reference, as the admin, anonymously or as a signed-in user.

``AppHarness`` is built on the same public pieces as a server: a ``Deployment`` (with a
``FakeRuntime`` as its clock and actions run in threads of this process), its ``Runner`` for
calls, its ``Worker`` for scheduled functions and crons, and its ``SubscriptionManager`` for live
queries. Every call runs to completion before it returns, on one event loop the harness owns, so
a test reads like a script: call, then assert.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from livebase.auth.callers import impersonated_identity
from livebase.config import Settings
from livebase.engine.transaction import Document, Transaction
from livebase.files.context import for_call as files_for_call
from livebase.functions.context import Auth, MutationCtx
from livebase.functions.loader import unload
from livebase.functions.nested import NestedCalls
from livebase.functions.registry import FunctionDef, canonical_path
from livebase.functions.runner import CallResult, check_args_size
from livebase.functions.sandbox import SeededRandom
from livebase.functions.scheduling import TxScheduler
from livebase.runtime import FakeRuntime
from livebase.scheduler.jobs import CRON_JOBS, SCHEDULED_FUNCTIONS, next_pending_ms
from livebase.server import Deployment
from livebase.subscriptions.manager import SharedQuery
from livebase.testing.http import HttpResult, build_request
from livebase.testing.http import fetch as fetch_route
from livebase.values.wire import from_wire, to_wire

FunctionRef = str | FunctionDef
"""``"module:function"``, or the decorated function itself (imported from the app's module)."""

DEFAULT_START_MS = 1_700_000_000_000
"""Where the fake clock starts: 2023-11-14T22:13:20Z, in Unix milliseconds."""

R = TypeVar("R")
_query_ids = itertools.count(1)


def _copy(value: Any) -> Any:
    """The value as a client receives it (through the wire form): a copy the test may change."""
    return from_wire(to_wire(value))


def _code_key(fn: Callable[..., Any]) -> tuple[str, str, int] | None:
    """Where a function is defined: the same for the app's copy (loaded under a private package
    name) and a copy the test imported itself."""
    fn = inspect.unwrap(fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    return os.path.realpath(code.co_filename), fn.__qualname__, code.co_firstlineno


class Caller:
    """Calls functions as one caller: the admin (``AppHarness`` itself, which may also call
    internal functions), an anonymous client (``harness.anonymous``) or a signed-in user
    (``harness.as_user(...)``). A failing function raises its own exception (an ``AppError``
    keeps its ``data``); a call the platform refuses raises the ``LivebaseError`` a client
    would see (unknown function, invalid arguments...)."""

    def __init__(
        self, harness: AppHarness, *, admin: bool, identity: dict[str, Any] | None
    ) -> None:
        self._harness = harness
        self.admin = admin
        self.identity = identity
        """The identity functions see (``ctx.auth.get_user_identity()``), in its wire form."""

    def query(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Any:
        h = self._harness
        path, args = h._prepare(fn, args)
        result = h.deployment.runner.run_query(path, args, admin=self.admin, identity=self.identity)
        return h._outcome(result)

    def mutation(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Any:
        h = self._harness
        path, args = h._prepare(fn, args)
        runner = h.deployment.runner
        return h._outcome(
            h._await(runner.run_mutation(path, args, admin=self.admin, identity=self.identity))
        )

    def action(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Any:
        """Runs the action in a thread of this process; its ``ctx.run_*`` calls and scheduling
        come back to the harness's database."""
        h = self._harness
        path, args = h._prepare(fn, args)
        runner = h.deployment.runner
        return h._outcome(
            h._await(runner.run_action(path, args, admin=self.admin, identity=self.identity))
        )

    def fetch(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResult:
        """Call the app's HTTP route (``http.py``) for ``method path`` (a path with an optional
        ``?query``) in-process, as this caller: a signed-in user's identity reaches
        ``ctx.auth`` in the route. Returns status, headers and body (``.json()``, ``.text``)."""
        h = self._harness
        request = build_request(
            method, path, json=json, body=body, headers=headers, identity=self.identity
        )
        return h._await(fetch_route(h.deployment, request, self.identity))

    def subscribe(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Subscription:
        """A live query, as a client's subscription: re-run after a commit that touches what it
        read (and only then). Raises at once if the query does not exist for this caller."""
        h = self._harness
        path, args = h._prepare(fn, args)
        fd = h.deployment.runner.lookup(path, "query", admin=self.admin)
        manager = h.deployment.sync.manager
        sub = Subscription(h)
        sub._shared = manager.subscribe(
            sub, sub.query_id, fd.path, args, identity=self.identity, admin=self.admin,
            journal=None,
        )  # fmt: skip
        h._subscriptions.add(sub)
        sub._refresh()
        return sub


class Subscription:
    """One live query. ``value`` is its current result (raising the query's error if its latest
    run failed); ``history`` every result it delivered: the first, then one per re-run whose
    result differed from the one before (a failed run appears as its exception)."""

    def __init__(self, harness: AppHarness) -> None:
        self._harness = harness
        self.query_id = next(_query_ids)
        self._shared: SharedQuery | None = None
        self._seen = ""
        self.history: list[Any] = []
        self.reruns = 0
        """How many times commits touched what the query read and it was brought up to date
        (a write it did not read makes none)."""
        self.closed = False
        self._touched = False

    def invalidate(self, query_id: int) -> None:
        """Called by the subscription manager when a commit touched what the query read."""
        self._touched = True

    def _refresh(self) -> None:
        shared = self._shared
        if self.closed or shared is None:
            return
        if self._touched:
            self._touched = False
            self.reruns += 1
        self._harness.deployment.sync.manager.refresh(shared, inline=True)
        if shared.fragment != self._seen:
            self._seen = shared.fragment
            self.history.append(self._current())

    def _current(self) -> Any:
        assert self._shared is not None and self._shared.result is not None
        result = self._shared.result
        return _copy(result.value) if result.error is None else result.error

    @property
    def value(self) -> Any:
        if self.closed:
            raise RuntimeError("this subscription is closed")
        self._refresh()
        current = self._current()
        if isinstance(current, BaseException):
            raise current
        return current

    @property
    def error(self) -> BaseException | None:
        """The exception of the latest run, or None if it succeeded."""
        self._refresh()
        current = self._current()
        return current if isinstance(current, BaseException) else None

    def close(self) -> None:
        if self.closed or self._shared is None:
            return
        self.closed = True
        self._harness.deployment.sync.manager.unsubscribe(self._shared, self, self.query_id)
        self._harness._subscriptions.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AppHarness(Caller):
    """An app folder loaded in-process on a fresh database in ``data_dir``, with a fake clock.
    Calls made on the harness itself are the admin's; ``close()`` (done by the fixtures)
    releases everything."""

    def __init__(
        self,
        app_dir: str | Path,
        data_dir: str | Path,
        *,
        start_ms: int = DEFAULT_START_MS,
        settings: Settings | None = None,
        env: Mapping[str, str] | None = None,
        db: str | None = None,
    ) -> None:
        """``env``: environment variables (``ctx.env``) set before the first call. ``db``: a
        PostgreSQL URL to run on instead of a fresh SQLite file in ``data_dir`` (never taken
        from ``LIVEBASE_DB``: a test must not reach a real database by accident)."""
        super().__init__(self, admin=True, identity=None)
        self.clock = FakeRuntime(start_ns=start_ms * 1_000_000)
        data = Path(data_dir)
        self.deployment: Deployment = Deployment(
            app_dir,
            data,
            durability="normal",
            settings=settings or Settings(action_isolation="thread"),
            runtime=self.clock,
            db=db or str(data / "data.sqlite3"),
        )
        self.logs: list[str] = []
        """Log lines (``print``, ``logging``) of every call made through the harness, in order."""
        self._subscriptions: set[Subscription] = set()
        self._by_code: dict[tuple[str, str, int], str] | None = None
        self._loop = asyncio.new_event_loop()
        self.closed = False
        try:
            self.deployment.open()
            for name, value in (env or {}).items():
                self.set_env(name, value)
        except BaseException:
            self.close()
            raise

    # -- callers ---------------------------------------------------------------------------------

    @property
    def anonymous(self) -> Caller:
        """A client that is not signed in: public functions only, no identity."""
        return Caller(self, admin=False, identity=None)

    def as_user(self, subject: str, *, issuer: str | None = None, **claims: Any) -> Caller:
        """A client signed in as ``subject``: public functions only, and
        ``ctx.auth.get_user_identity()`` gives this identity. ``claims`` are in their wire form
        (``name``, ``email``, ``emailVerified``, ``pictureUrl``, or any custom claim)."""
        attributes: dict[str, Any] = {**claims, "subject": subject}
        if issuer is not None:
            attributes["issuer"] = issuer
        return Caller(self, admin=False, identity=impersonated_identity(attributes))

    # -- environment variables -------------------------------------------------------------------

    def set_env(self, name: str, value: str) -> None:
        """Set an environment variable (``livebase env set``): ``ctx.env[name]`` in every call
        that starts after this, and the subscriptions that read it run again."""
        self._await(self.deployment.env.set(name, value))

    def unset_env(self, name: str) -> None:
        self._await(self.deployment.env.unset(name))

    # -- time and the scheduler ------------------------------------------------------------------

    @property
    def now_ms(self) -> float:
        """The fake clock, as ``ctx.now`` reads it (Unix milliseconds)."""
        return self.clock.time_ns() / 1e6

    def advance(
        self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0, days: float = 0.0
    ) -> int:
        """Move the clock forward, running every scheduled function and cron that comes due on
        the way, each at its own time (so a job scheduled by another job runs too if it falls
        within the span); returns how many ran. ``advance()`` runs what is due now."""
        total = seconds + 60 * minutes + 3600 * hours + 86400 * days
        if total < 0:
            raise ValueError("the clock only moves forward")
        return self._advance_to(self.clock.now_ns + round(total * 1e9))

    def finish_scheduled(self, *, max_jobs: int = 1000) -> int:
        """Run every pending scheduled function, and those they schedule, moving the clock to
        each one's time (crons due on the way run too); returns how many ran. Raises
        ``RuntimeError`` after ``max_jobs`` (jobs that keep scheduling more never finish)."""
        ran = self._advance_to(self.clock.now_ns)
        while True:
            due, _ = self.deployment.engine.read(next_pending_ms)
            if due is None:
                return ran
            before = ran
            ran += self._advance_to(max(self.clock.now_ns, self._ns_at(due)))
            if ran == before:
                return ran  # due but not run: a job waiting to retry after a system error
            if ran > max_jobs:
                raise RuntimeError(
                    f"scheduled functions still pending after {ran} ran (max_jobs={max_jobs}): "
                    "do they keep scheduling each other?"
                )

    def scheduled(
        self, function: FunctionRef | None = None, *, state: str | None = None
    ) -> list[Document]:
        """Runs of scheduled functions and crons (``_scheduled_functions`` documents: ``name``,
        ``args`` (a one-item list), ``scheduledTime``, ``state``...), soonest first; only those
        of ``function`` and in ``state`` (``pending``, ``inProgress``, ``success``,
        ``failed``, ``canceled``) if given."""
        path = None if function is None else self.path_of(function)
        docs, _ = self.deployment.engine.read(lambda tx: tx.query(SCHEDULED_FUNCTIONS).collect())
        jobs = [
            _copy(d)
            for d in docs
            if path in (None, d["name"]) and state in (None, d["state"]["kind"])
        ]
        return sorted(jobs, key=lambda d: (d["scheduledTime"], d["_creationTime"]))

    def _advance_to(self, target_ns: int) -> int:
        ran = self._run_due()
        while True:
            due = self._next_due_ms()
            if due is None:
                break
            at = self._ns_at(due)
            if at > target_ns or at <= self.clock.now_ns:
                break  # beyond the span; or due and not run (waiting to retry a system error)
            self.clock.now_ns = at
            ran += self._run_due()
        self.clock.now_ns = max(self.clock.now_ns, target_ns)
        return ran

    def _run_due(self) -> int:
        return self._await(self.deployment.worker.run_due())

    def _next_due_ms(self) -> float | None:
        def first(tx: Transaction) -> float | None:
            times = [float(d["nextRunTime"]) for d in tx.query(CRON_JOBS).collect()]
            job = next_pending_ms(tx)
            if job is not None:
                times.append(job)
            return min(times, default=None)

        due, _ = self.deployment.engine.read(first)
        return due

    @staticmethod
    def _ns_at(ms: float) -> int:
        """The first clock reading at which the scheduler (comparing ``time_ns() / 1e6`` with
        ``ms``) sees ``ms`` as due."""
        ns = int(ms * 1e6)
        while ns / 1e6 < ms:
            ns += 64
        return ns

    # -- data ------------------------------------------------------------------------------------

    def run(self, fn: Callable[[MutationCtx], R]) -> R:
        """Run ``fn(ctx)`` in a write transaction with a mutation's ``ctx`` (``ctx.db``,
        ``ctx.scheduler``, ``ctx.run_query`` / ``ctx.run_mutation``; no identity): to seed data
        or look at it directly."""

        def body(tx: Transaction) -> R:
            ctx = MutationCtx(tx, SeededRandom(0), Auth(None))
            ctx.scheduler = TxScheduler(tx, self.deployment.runner)
            ctx.calls = NestedCalls(self.deployment.runner, tx, ctx.auth, ctx.env)
            ctx.storage = files_for_call(tx, self.deployment.files, "mutation")
            return fn(ctx)

        outcome = self._await(self.deployment.engine.mutate(body))
        value: R = outcome.value
        return value

    def table(self, name: str) -> list[Document]:
        """Every document of a table, in ``_creationTime`` order."""
        docs, _ = self.deployment.engine.read(lambda tx: tx.query(name).collect())
        return [_copy(d) for d in docs]

    # -- plumbing --------------------------------------------------------------------------------

    def path_of(self, fn: FunctionRef) -> str:
        """The ``module:function`` path of a function, given as a path or by reference."""
        if isinstance(fn, str):
            return canonical_path(fn)
        if not isinstance(fn, FunctionDef):
            raise TypeError(
                "call a function by path ('module:function') or by the decorated function, "
                f"got {type(fn).__name__}"
            )
        functions = self.deployment.app.functions
        if fn.path and functions.get(fn.path) is fn:
            return fn.path
        if self._by_code is None:
            self._by_code = {}
            for path, known in functions.items():
                key = _code_key(known.fn)
                if key is not None:
                    self._by_code[key] = path
        key = _code_key(fn.fn)
        found = self._by_code.get(key) if key is not None else None
        if found is None:
            raise LookupError(
                f"{fn.fn.__qualname__} is not a function of the app in {self.deployment.app_dir}"
            )
        return found

    def _prepare(self, fn: FunctionRef, args: dict[str, Any] | None) -> tuple[str, Any]:
        self._check_open()
        path = self.path_of(fn)
        args = {} if args is None else args
        check_args_size(path, args, self.deployment.engine.settings.limits.max_args_bytes)
        return path, args

    def _outcome(self, result: CallResult) -> Any:
        self.logs.extend(result.log_lines)
        if result.error is not None:
            raise result.error
        return _copy(result.value)

    def _await(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` on the harness's loop, then bring every subscription up to date."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()
            raise RuntimeError(
                "the livebase test harness is synchronous: call it from a plain `def` test, "
                "not from inside a running event loop"
            )
        try:
            return self._loop.run_until_complete(coro)
        finally:
            for sub in list(self._subscriptions):
                sub._refresh()

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("this app harness is closed")

    def close(self) -> None:
        """Stop the app: close subscriptions, the database and the event loop, and unload the
        app's modules."""
        if self.closed:
            return
        self.closed = True
        for sub in list(self._subscriptions):
            sub.close()
        try:
            self.deployment.runner.actions.close()  # its idle threads end
            self.deployment.close()
        finally:
            unload(self.deployment.app)
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def __enter__(self) -> AppHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
