"""Live queries shared by everyone who subscribes to them, re-run only when a commit touches them.

A ``SharedQuery`` is one (function, arguments, identity, journal) and its latest result, encoded
once. Every client subscription points at one. On each commit the manager finds the shared
queries whose read set holds a written key (``IntervalIndex``), marks them stale and tells their
subscribers; the first subscriber that needs the new result re-runs the query, and the others get
the same encoded result. A write nobody read re-runs nothing.

A slow query (``functions.offload``) is re-run in a worker process while the loop goes on; its
subscribers' Transitions wait for it (all of a client's queries move to one timestamp together).
Commits may land meanwhile: the worker's result, read at its own snapshot, is used only if none
of the commits delivered since touched what it read; otherwise it runs again (``OFF_LOOP_TRIES``
times, then once on the loop, so a query written to without pause still gets an answer).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from livebase.engine.batch import Commit
from livebase.engine.catalog import Catalog
from livebase.engine.live_range import MAX_PENDING_WRITES, LiveRange
from livebase.errors import LivebaseError
from livebase.functions.registry import FunctionDef
from livebase.functions.runner import CallResult, Runner
from livebase.metrics import Counter, Histogram
from livebase.subscriptions.intervals import IntervalIndex
from livebase.subscriptions.search_reads import SearchReadIndex
from livebase.values.wire import dumps, to_wire

log = logging.getLogger("livebase.subscriptions")

OFF_LOOP_TRIES = 3
"""Worker runs of a slow query whose every result a concurrent commit made stale, before it is
run once on the loop instead."""
RECENT_COMMITS = 20_000
"""Commits kept while slow queries run, to check their results against (older: re-run)."""


class Subscriber(Protocol):
    def invalidate(self, query_id: int) -> None: ...


QueryKey = tuple[str, str, str, str | None]


@dataclass(eq=False)
class SharedQuery:
    key: QueryKey
    path: str
    args: dict[str, Any]
    identity: dict[str, Any] | None
    admin: bool
    journal: str | None
    subscribers: dict[Subscriber, set[int]] = field(default_factory=dict)
    stale: bool = True
    result: CallResult | None = None
    message_type: str = "QueryUpdated"
    fragment: str = ""
    """The encoded body of the result, shared by every subscriber: ``"value":...,"logLines":...``
    (or the QueryFailed fields), without the per-client ``queryId``."""
    head: str = ""
    tail: bytes = b""
    """Everything after the ``queryId`` in this result's modification message, built and
    encoded once: every subscriber's socket is written these same bytes, never a copy."""
    invalidated_at: float | None = None
    changed_at: float | None = None
    """When the commit behind the current result was seen (for the commit-to-push histogram)."""
    running: bool = False
    """A worker process is computing the next result (a slow query)."""
    live: LiveRange | None = None
    """The index range the result is (``engine.live_range``): commits touching it are applied
    to it instead of running the query again."""
    pending: list[Commit] = field(default_factory=list)
    """Commits delivered since ``live`` was last brought up to date."""

    @property
    def subscription_count(self) -> int:
        return sum(len(ids) for ids in self.subscribers.values())


def identity_key(identity: dict[str, Any] | None, admin: bool) -> str:
    """Who a shared result is for: results of different callers are never shared (the admin
    acting as a user is neither that user, who may not call internal functions, nor the admin
    as itself)."""
    user = (
        "" if identity is None else str(identity.get("tokenIdentifier", dumps(to_wire(identity))))
    )
    if admin:
        return f"admin\0{user}"
    return f"user\0{user}" if user else ""


def _encode_result(shared: SharedQuery, result: CallResult) -> None:
    """Build the result message fragments every subscriber of ``shared`` is sent."""
    if result.error is None:
        value, lines = dumps(to_wire(result.value)), dumps(result.log_lines)
        _set_fragment(shared, "QueryUpdated", f'"value":{value},"logLines":{lines}')
        return
    message, lines = dumps(result.error_message()), dumps(result.log_lines)
    fragment = f'"errorMessage":{message},"logLines":{lines}'
    data = result.error_data()
    if data is not None:
        fragment += f',"errorData":{dumps(to_wire(data))}'
    _set_fragment(shared, "QueryFailed", fragment)


def _set_fragment(shared: SharedQuery, message_type: str, fragment: str) -> None:
    shared.message_type, shared.fragment = message_type, fragment
    shared.tail = f',{fragment},"journal":{dumps(shared.journal)}}}'.encode()
    shared.head = f'{{"type":"{message_type}","queryId":'


def _live_fragment(live: LiveRange) -> str:
    """The fragment of a result that is ``live``'s range, from its stored texts."""
    return f'"value":{live.value_text()},"logLines":[]'


class SubscriptionManager:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.index = IntervalIndex()
        self.search_index = SearchReadIndex()
        self.queries: dict[QueryKey, SharedQuery] = {}
        self.subscriptions = 0
        self._same_for_all: dict[tuple[str, str, str | None], tuple[CallResult, bool]] = {}
        """Results at ``_same_for_all_ts`` of queries that did not ask who was calling, by
        (path, arguments, journal), with whether clients may call the function (else only the
        admin may reuse it): another caller's subscription reuses them instead of running the
        query again (a public query watched by many signed-in users runs once per change, not
        once per user)."""
        self._same_for_all_ts = -1
        self._running = 0
        """Slow queries being computed in worker processes now."""
        self._recent: collections.deque[Commit] = collections.deque()
        """The commits delivered while any of them runs, to check their results against."""
        self._recent_floor = 0
        """Results read before this timestamp cannot be checked (commits were dropped)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._generation = 0
        """Counts ``invalidate`` calls: a slow query's result computed across one (new code, a
        changed variable) is thrown away."""
        self.applied = Counter(
            "livebase_live_results_applied_total",
            "Live query results brought up to date by applying commits to the index range they "
            "are, instead of running the query again (engine.live_range).",
        )
        self.push_latency = Histogram(
            "livebase_commit_to_push_seconds",
            "Time from a commit to a Transition carrying its effect being written to a client.",
            (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )

    # -- subscribing -----------------------------------------------------------------------------

    def subscribe(
        self,
        subscriber: Subscriber,
        query_id: int,
        path: str,
        args: dict[str, Any],
        *,
        identity: dict[str, Any] | None,
        admin: bool,
        journal: str | None,
    ) -> SharedQuery:
        key: QueryKey = (path, dumps(to_wire(args)), identity_key(identity, admin), journal)
        shared = self.queries.get(key)
        if shared is None:
            shared = SharedQuery(key, path, args, identity, admin, journal)
            self.queries[key] = shared
        shared.subscribers.setdefault(subscriber, set()).add(query_id)
        self.subscriptions += 1
        return shared

    def unsubscribe(self, shared: SharedQuery, subscriber: Subscriber, query_id: int) -> None:
        ids = shared.subscribers.get(subscriber)
        if ids is None or query_id not in ids:
            return
        ids.discard(query_id)
        self.subscriptions -= 1
        if not ids:
            del shared.subscribers[subscriber]
        if not shared.subscribers:
            self.index.remove(shared)
            self.search_index.remove(shared)
            if self.queries.get(shared.key) is shared:
                del self.queries[shared.key]

    # -- commits ---------------------------------------------------------------------------------

    def on_commits(self, commits: list[Commit]) -> None:
        if self._running:
            self._remember(commits)
        touched = _touched(commits, self.index, self.search_index, self.runner.engine.catalog)
        if not touched:
            return
        now = time.monotonic()
        for owner in touched:
            assert isinstance(owner, SharedQuery)
            if owner.live is not None:
                owner.pending.extend(commits)
                if len(owner.pending) > MAX_PENDING_WRITES:  # nobody asked for a while
                    owner.live = None
                    owner.pending.clear()
            owner.stale = True
            if owner.invalidated_at is None:
                owner.invalidated_at = now
            for subscriber, ids in list(owner.subscribers.items()):
                for query_id in ids:
                    subscriber.invalidate(query_id)

    def invalidate(self, which: Callable[[SharedQuery], bool] = lambda _: True) -> None:
        """Re-run the shared queries ``which`` picks (all by default) though no commit touched
        them: after a code reload, or an environment variable change (``reads_env``)."""
        self._same_for_all.clear()  # results kept for the latest commit may be stale now
        self._generation += 1
        for shared in list(self.queries.values()):
            if not which(shared):
                continue
            shared.stale = True
            shared.live = None  # a run must answer: the code or what it reads changed
            shared.pending.clear()
            for subscriber, ids in list(shared.subscribers.items()):
                for query_id in ids:
                    subscriber.invalidate(query_id)

    # -- results ---------------------------------------------------------------------------------

    def refresh(self, shared: SharedQuery, *, inline: bool = False) -> bool:
        """Bring ``shared`` up to the latest commit (runs the query at most once per change).
        False if it is slow and now runs in a worker: its subscribers are invalidated again
        when the result is in. ``inline``: run it here whatever its speed (the test kit)."""
        if not shared.stale:
            return True
        if shared.running:
            return False
        if shared.live is not None and self._catch_up(shared, shared.live):
            return True
        result = self._run(shared, inline)
        if isinstance(result, tuple):
            self._start(shared, *result)
            return False
        self._apply(shared, result)
        return True

    def _apply(self, shared: SharedQuery, result: CallResult) -> None:
        shared.stale = False
        shared.result = result
        shared.changed_at, shared.invalidated_at = shared.invalidated_at, None
        self.index.remove(shared)
        self.search_index.remove(shared)
        if result.read_set is not None:
            self.index.add(shared, result.read_set.intervals, result.read_set.tables_absent)
            self.search_index.add(shared, result.read_set.searches)
        if shared.journal is None and result.journal is not None:
            self._pin_journal(shared, result.journal)
        _encode_result(shared, result)
        # A result reused by another caller's query carries no range: each keeps its own.
        live, result.live = result.live, None
        shared.pending.clear()
        shared.live = live if live is not None and shared.fragment == _live_fragment(live) else None

    def _catch_up(self, shared: SharedQuery, live: LiveRange) -> bool:
        """Apply the commits since ``live`` was current to it; False (and the query runs
        again) when they cannot be applied exactly or the result would pass a read limit."""
        commits, shared.pending = shared.pending, []
        writes = [w for c in commits if c.ts > live.ts for w in c.writes]
        limits = self.runner.engine.settings.limits
        if (
            len(writes) > MAX_PENDING_WRITES
            or not live.apply(writes)
            or len(live.keys) > limits.max_documents_scanned
            or live.bytes_read > limits.max_bytes_read
        ):
            shared.live = None
            return False
        if commits:
            live.ts = max(live.ts, commits[-1].ts)
        previous = shared.result
        assert previous is not None
        shared.result = CallResult(
            live.value(), None, [], live.ts, previous.read_set,
            reads_identity=previous.reads_identity, reads_env=previous.reads_env,
        )  # fmt: skip
        shared.stale = False
        shared.changed_at, shared.invalidated_at = shared.invalidated_at, None
        _set_fragment(shared, "QueryUpdated", _live_fragment(live))
        self.applied.inc()
        return True

    def _run(self, shared: SharedQuery, inline: bool) -> CallResult | tuple[FunctionDef, Any]:
        latest = self.runner.engine.latest_ts
        if latest != self._same_for_all_ts:
            self._same_for_all.clear()
            self._same_for_all_ts = latest
        same_key = (shared.path, shared.key[1], shared.journal)
        reused = self._same_for_all.get(same_key)
        if reused is not None and (reused[1] or shared.admin):
            return reused[0]
        run = self.runner.run_query if inline else self.runner.run_query_within_budget
        result = run(
            shared.path,
            shared.args,
            admin=shared.admin,
            identity=shared.identity,
            journal=shared.journal,
            live=True,
        )
        if isinstance(result, tuple):
            return result
        if not result.reads_identity and result.ts == latest and result.error is None:
            self._same_for_all[same_key] = (result, not shared.admin or self._public(shared.path))
        return result

    # -- slow queries ----------------------------------------------------------------------------

    def _start(self, shared: SharedQuery, fd: FunctionDef, checked: dict[str, Any]) -> None:
        shared.running = True
        self._running += 1
        run = self._run_off_loop(shared, fd, checked, self._generation)
        task = asyncio.get_running_loop().create_task(run)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_off_loop(
        self, shared: SharedQuery, fd: FunctionDef, checked: dict[str, Any], generation: int
    ) -> None:
        try:
            result: CallResult | None = None
            for _ in range(OFF_LOOP_TRIES):
                if not shared.subscribers:
                    return  # everyone left meanwhile
                result = await self.runner.query_off_loop(
                    fd, checked, shared.identity, None, shared.journal
                )
                if not self._stale_since(result):
                    break
                result = None
            if not shared.subscribers:
                return
            if result is None:  # written to faster than it runs: once more, here
                result = self.runner.run_query(
                    shared.path, shared.args, admin=shared.admin, identity=shared.identity,
                    journal=shared.journal,
                )  # fmt: skip
        except Exception:
            log.exception("slow query %s failed to run in a worker", shared.path)
            result = self.runner.run_query(
                shared.path, shared.args, admin=shared.admin, identity=shared.identity,
                journal=shared.journal,
            )  # fmt: skip
        finally:
            shared.running = False
            self._running -= 1
            if not self._running:
                self._recent.clear()
                self._recent_floor = 0
        if not shared.subscribers or (self.queries.get(shared.key) is not shared):
            return
        if generation == self._generation:
            self._apply(shared, result)
        else:
            shared.stale = True  # computed across a reload: the next flush runs it again
        for subscriber, ids in list(shared.subscribers.items()):
            for query_id in ids:
                subscriber.invalidate(query_id)

    def _remember(self, commits: Iterable[Commit]) -> None:
        self._recent.extend(commits)
        while len(self._recent) > RECENT_COMMITS:
            self._recent_floor = self._recent.popleft().ts

    def _stale_since(self, result: CallResult) -> bool:
        """Whether a commit delivered after ``result``'s snapshot touched what it read."""
        if result.ts is None or result.read_set is None:
            return False  # a failure: it is shown as it is, like one run here
        if result.ts < self._recent_floor:
            return True
        later = [c for c in self._recent if c.ts > result.ts]
        if not later:
            return False
        index, searches, owner = IntervalIndex(), SearchReadIndex(), object()
        index.add(owner, result.read_set.intervals, result.read_set.tables_absent)
        searches.add(owner, result.read_set.searches)
        return bool(_touched(later, index, searches, self.runner.engine.catalog))

    def _public(self, path: str) -> bool:
        try:
            self.runner.lookup(path, "query", admin=False)
        except LivebaseError:
            return False
        return True

    def rejected(self, path: str, error: LivebaseError) -> SharedQuery:
        """A subscription whose arguments could not even be decoded: never run, never shared,
        never invalidated; it answers QueryFailed with ``error`` until the client removes it."""
        shared = SharedQuery(("", "", "", None), path, {}, None, False, None, stale=False)
        _encode_result(shared, CallResult(error=error, rejected=True))
        return shared

    def _pin_journal(self, shared: SharedQuery, journal: str) -> None:
        """A paginated query's first run fixes where its page ends; later runs keep that end, so
        pages grow and shrink instead of shifting (gapless live pagination)."""
        new_key: QueryKey = (*shared.key[:3], journal)
        if new_key in self.queries:
            return
        if self.queries.get(shared.key) is shared:
            del self.queries[shared.key]
        shared.key, shared.journal = new_key, journal
        self.queries[new_key] = shared


def _touched(
    commits: Iterable[Commit], index: IntervalIndex, searches: SearchReadIndex, catalog: Catalog
) -> set[Hashable]:
    """The owners in ``index`` and ``searches`` whose reads ``commits`` wrote into."""
    touched: set[Hashable] = set()
    if not index and not searches:
        return touched  # nothing subscribed: another node's commits need not be decoded
    for commit in commits:
        for write in commit.writes:
            for index_id, key in write.old_keys.items():
                index.touched_by_key(index_id, key, touched)
            for index_id, key in write.new_keys.items():
                index.touched_by_key(index_id, key, touched)
            index.touched_by_table(write.table, touched)
            searches.touched_by_write(catalog, write, touched)
    return touched
