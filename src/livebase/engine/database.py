"""The engine: snapshot reads, a group-committing mutation pipeline, timestamps and the commit log.

Mutations queue up and one committer runs everything queued in a single storage transaction, each
mutation inside its own savepoint: a failing mutation rolls back alone, the rest commit together
with one fsync. Mutations are therefore executed one at a time against the latest state, which
makes them serializable; a storage-level conflict (another process holding the database) re-runs
the whole batch, invisibly to callers.

Every committing mutation gets a strictly increasing u64 nanosecond timestamp, derived from the
last timestamp in the database itself, and a commit-log entry listing its writes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from livebase.config import Settings
from livebase.engine import blind, idempotency, optimistic
from livebase.engine.batch import Batch, Commit, MutationOutcome, Pending, decode_commits
from livebase.engine.catalog import BY_CREATION_TIME, CATALOG_KEY, Catalog
from livebase.engine.changes import RETAINED_KEY, Retention
from livebase.engine.gathering import Gathering
from livebase.engine.hearing import Hearing
from livebase.engine.history import MAX_COMMITS_BACK, HistoricalReader
from livebase.engine.migration import MigrationReport, Progress, apply_schema
from livebase.engine.overlay import replay
from livebase.engine.transaction import ChangeHook, Transaction, Write, decode_document
from livebase.engine.views import refresh_views
from livebase.errors import ConflictError, InvalidValueError
from livebase.runtime import Runtime, SystemRuntime
from livebase.schema.definition import EMPTY_SCHEMA, SchemaDefinition, TableDefinition
from livebase.storage.base import (
    CommitInFlight,
    CommitWatch,
    ExpectationFailed,
    PrunedCommits,
    Storage,
    StorageReader,
    StorageWriter,
)
from livebase.values.wire import dumps

log = logging.getLogger("livebase.engine")
_CATCH_UP_PAGE = 500
R = TypeVar("R")
OTHERS_ACTIVE_SECONDS = 1.0
"""How long after seeing another node's commit a batch that reads still runs ahead of the clock
(``engine.optimistic``)."""
_UNKNOWN = "?"
"""``Engine._catalog_text`` when the catalog changed here since it was last read."""
_PREPARE = object()
"""``_commit``'s ``prepared`` when the batch has not run yet: it runs ahead first if it may."""
FOLLOW_GRACE_SECONDS = 0.003
"""``Engine.follow_grace_seconds``: on a node with writers, their next batch begins well
within it."""
FOLLOW_BUSY_SECONDS = 0.05
"""``Engine.follow_busy_seconds``: a node that began no batch for this long reads other nodes'
commits as soon as it hears of them."""
_FOLLOW_RECHECK_SECONDS = 0.05
"""How often a follower waiting for this node's batch to land looks again (it is woken when
one does; this only bounds a wait for a batch that failed)."""
_RAN_AGAIN = ExpectationFailed("ran again under the clock")
"""Why the batch behind one that had to run again runs again too (``_landed``)."""


class Engine:
    def __init__(
        self,
        storage: Storage,
        schema: SchemaDefinition = EMPTY_SCHEMA,
        *,
        runtime: Runtime | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.storage = storage
        self.schema = schema
        self.runtime: Runtime = runtime or SystemRuntime()
        self.settings = settings or Settings()
        self.catalog = Catalog()
        self._catalog_text: str | None = _UNKNOWN
        """The stored catalog ``self.catalog`` was last read from (None: there is none)."""
        self.optimistic_batches = 0
        """Batches that ran before taking the commit clock and committed as they ran."""
        self.optimistic_reruns = 0
        """Batches that ran ahead but ran again under the clock: a commit changed what they
        read, the catalog changed, or an idempotency record appeared."""
        self._others_active_until = 0.0
        """Until when (``time.monotonic``) other nodes count as committing: a second after
        this node last saw a commit of theirs."""
        self.latest_ts = 0
        self.delivered_ts = 0
        """The newest commit handed to the commit listeners."""
        self._last_creation_time = 0.0
        self._pending: list[Pending] = []
        self._in_flight: CommitInFlight | None = None
        """A batch that read nothing, sent and not yet answered (``_send_blind``)."""
        self._ahead: optimistic.Ahead | None = None
        """The next batch, run one mutation at a time as they queue while one is in flight."""
        self.gathering = Gathering()
        """Whether that batch waits for the writers the one before answered (``gathering``)."""
        self._held: asyncio.Handle | None = None
        """What sends the next batch while it is held (``_hold``): until ``_gather_until`` at
        the latest."""
        self._gather_until = -math.inf
        self._held_for_writers = False
        """The hold ends once the writers are back (``gathering``), not at the next turn."""
        self._gathered_at = -math.inf
        """When the last held batch went out (``time.monotonic``)."""
        self._sweep = idempotency.Sweep()
        self._flush_scheduled = False
        self._flush_next_turn = False
        """A batch commits on the loop's next turn (not a retry waiting out its back-off)."""
        self._tails_begun = 0
        """Batches begun that read other nodes' commits with the clock (numbered from 1)."""
        self._tails_delivered = 0
        """The newest of those whose commits, and the others' it read, have been delivered."""
        self._tail_delivered = asyncio.Event()
        self._tail_begun_at = -math.inf
        """When the newest of those began (``time.monotonic``)."""
        self._landed_at = -math.inf
        """When the newest batch committed or failed (``time.monotonic``)."""
        self.follow_grace_seconds = FOLLOW_GRACE_SECONDS
        """How long ``follow`` leaves other nodes' commits to a batch of this node's that may
        begin, before it reads them itself..."""
        self.follow_busy_seconds = FOLLOW_BUSY_SECONDS
        """...if this node began a batch this recently (else it reads them at once)."""
        self._hearing = Hearing()
        """Whether ``follow`` listens for other nodes' commits now (``engine.hearing``)."""
        self._listeners: list[Callable[[list[Commit]], None]] = []
        self.commits_total = 0
        self.system_tables: dict[str, TableDefinition] = {}
        self.change_hook: ChangeHook | None = None
        """Runs after every document write in a write transaction (the app's triggers)."""

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self, progress: Progress | None = None) -> MigrationReport:
        """Load the catalog and apply ``self.schema``; raises ``SchemaMigrationError`` and leaves
        the database unchanged if existing documents do not fit."""
        return self.set_schema(self.schema, progress)

    def add_system_tables(self, tables: dict[str, TableDefinition]) -> None:
        """Tables the platform itself keeps (``_scheduled_functions``...), created with the
        app's schema; their names start with ``_``, which app tables cannot."""
        self.system_tables.update(tables)

    def set_schema(
        self, schema: SchemaDefinition, progress: Progress | None = None
    ) -> MigrationReport:
        if self.system_tables:
            schema = SchemaDefinition(
                {**schema.tables, **self.system_tables}, schema.schema_validation
            )
        with self.storage.writer() as w:
            catalog = Catalog.from_json(w.get_global(CATALOG_KEY))
            new_catalog, report = apply_schema(w, catalog, schema, progress)
            if new_catalog != catalog:
                w.set_global(CATALOG_KEY, new_catalog.to_json())
            refresh_views(w, schema, new_catalog)
            idempotency.skip_backfill_if_new(w)
            latest = w.latest_ts()
            if report.rewrites:
                latest = max(self.runtime.time_ns(), latest + 1)
                entry = {"writes": [x.to_json() for x in report.rewrites], "reason": "schema"}
                w.append_commit(latest, dumps(entry))
            last_ct = _max_creation_time(w, new_catalog)
        self.catalog, self.schema, self.latest_ts = new_catalog, schema, latest
        self._catalog_text = _UNKNOWN
        self.delivered_ts = max(self.delivered_ts, latest)
        self._last_creation_time = max(self._last_creation_time, last_ct)
        return report

    def close(self) -> None:
        if self._held is not None:
            self._held.cancel()
        if self._ahead is not None:
            self._ahead.close()
        self.storage.close()

    def add_commit_listener(self, listener: Callable[[list[Commit]], None]) -> None:
        self._listeners.append(listener)

    def prune_changes(
        self, before_ts: int, *, keep_newest: int = MAX_COMMITS_BACK + 1, limit: int = 10_000
    ) -> PrunedCommits:
        """Drop up to ``limit`` commit-log entries older than ``before_ts`` (never the newest
        ``keep_newest``: historical reads undo up to ``MAX_COMMITS_BACK`` of them) and record
        the watermark in the same transaction, so an expired change cursor is detected exactly.

        Call it on the event-loop thread: the storage writer is synchronous there, so this
        cannot interleave with a group commit."""
        with self.storage.writer() as w:
            pruned = w.prune_commits(before_ts, keep_newest=keep_newest, limit=limit)
            if pruned.count:
                seconds = self.settings.change_retention_seconds
                w.set_global(RETAINED_KEY, Retention(pruned.newest_ts, seconds).to_json())
        return pruned

    def prune_idempotency_records(self, before_ns: int, *, limit: int = 10_000) -> int:
        """Drop up to ``limit`` idempotency records dated by an age marker before ``before_ns``
        (records from before records carried their time; oldest first), after dating any record
        from before records were dated; returns how many were dropped. Call it on the
        event-loop thread, like ``prune_changes``."""
        with self.storage.writer() as w:
            if not idempotency.backfill(w, self.runtime.time_ns(), limit):
                return 0
            return idempotency.prune(w, before_ns, limit)

    def sweep_idempotency_records(
        self, before_ns: int, *, rows: int = idempotency.SWEEP_ROWS
    ) -> tuple[int, bool]:
        """One pass of the sweep: read up to ``rows`` idempotency records from where the last
        pass stopped and drop those stored before ``before_ns``. Returns how many were dropped
        and whether the cycle is done; a new cycle begins no sooner than ``SWEEP_EVERY`` of the
        retention after the last one began (``idempotency``)."""
        retention = self.settings.idempotency_retention_seconds
        if not self._sweep.begin_or_continue(self.runtime.time_ns(), retention):
            return 0, True
        with self.storage.writer() as w:
            return self._sweep.run(w, before_ns, rows)

    def records_expire_before(self) -> int:
        """Idempotency records stored before this (ns) are expired: they answer nobody, and
        the retention pass deletes them."""
        return self.runtime.time_ns() - int(self.settings.idempotency_retention_seconds * 1e9)

    # -- reads -----------------------------------------------------------------------------------

    def _transaction(
        self, store: StorageReader, *, writable: bool, snapshot_ts: int
    ) -> Transaction:
        tx = Transaction(
            store,
            self.catalog,
            self.schema,
            self.runtime,
            self.settings.limits,
            now_ms=self.runtime.time_ns() / 1e6,
            writable=writable,
            snapshot_ts=snapshot_ts,
        )
        return tx

    def read(self, fn: Callable[[Transaction], R]) -> tuple[R, Transaction]:
        """Run ``fn`` against one consistent snapshot (the latest commit)."""
        with self.storage.reader() as r:
            tx = self._transaction(r, writable=False, snapshot_ts=r.latest_ts())
            return fn(tx), tx

    def read_at(self, ts: int, fn: Callable[[Transaction], R]) -> tuple[R, Transaction]:
        """Run ``fn`` against the state as of commit ``ts`` (at most ``MAX_COMMITS_BACK``
        commits ago), reconstructed from the commit log."""
        if ts > self.latest_ts:
            raise InvalidValueError(
                f"timestamp {ts} is in the future (latest is {self.latest_ts})",
                code="TimestampInFuture",
            )
        with self.storage.reader() as r:
            if ts < Retention.read(r).after_ts:
                raise InvalidValueError(
                    f"timestamp {ts} is older than the retained commit log; ask "
                    "/api/query_ts for a newer one",
                    code="TimestampTooOld",
                )
            commits = r.commits_after(ts, MAX_COMMITS_BACK + 1)
            if len(commits) > MAX_COMMITS_BACK:
                raise InvalidValueError(
                    f"timestamp {ts} is more than {MAX_COMMITS_BACK} commits old; ask "
                    "/api/query_ts for a newer one",
                    code="TimestampTooOld",
                )
            reader: StorageReader = HistoricalReader(r, ts, commits) if commits else r
            tx = self._transaction(reader, writable=False, snapshot_ts=ts)
            return fn(tx), tx

    # -- writes ----------------------------------------------------------------------------------

    async def mutate(
        self,
        fn: Callable[[Transaction], R],
        *,
        record_key: str | None = None,
        encode: Callable[[R], Any] | None = None,
        decode: Callable[[Any], R] | None = None,
        fingerprint: str | None = None,
        optimistic: bool = False,
    ) -> MutationOutcome[R]:
        """Queue ``fn`` to run in a write transaction; resolves once it is durably committed.

        With ``record_key``, the outcome is stored (via ``encode``) in the same transaction and a
        later call with the same key returns it (via ``decode``) without running ``fn`` again —
        but only to a call with the same ``fingerprint`` (who called what with which arguments);
        any other call with that key fails with ``IdempotencyKeyReusedError``.

        ``optimistic``: ``fn`` reads only through the transaction (an app mutation), so on a
        shared database it may run before the commit clock is taken (``engine.optimistic``).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[MutationOutcome[Any]] = loop.create_future()
        self._pending.append(
            Pending(fn, future, record_key, encode, decode, fingerprint, optimistic)
        )
        if not self._flush_scheduled:
            self._flush_scheduled = self._flush_next_turn = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = self._flush_next_turn = False
        if self._in_flight is not None:
            self._run_ahead()  # it goes when the batch in flight lands
            return
        if self._held is not None:
            if not self._holding():  # what was to end it ran on a loop that has ended
                self._gather_expired()
                return
            self._run_ahead()
            assert self._ahead is not None
            if self._ahead.full or (
                self._held_for_writers and self.gathering.complete(len(self._ahead.items))
            ):
                self._send_gathered()
            return
        items, self._pending = self._pending, []
        if items:
            self._commit(items, _PREPARE)

    def _commit(self, items: list[Pending], prepared: optimistic.Prepared | object | None) -> None:
        try:
            if prepared is _PREPARE:
                prepared = self._prepare(items)
            assert prepared is None or isinstance(prepared, optimistic.Prepared)
            if prepared is not None and prepared.blind:
                self._send_blind(items, prepared)
                return
            batch = self._commit_batch(items, prepared)
        except Exception as exc:
            self._failed(items, exc)
            return
        self._finish(batch)

    def _run_ahead(self) -> None:
        """Run what is queued, in order, into the next batch while the last one commits."""
        if self._ahead is None:
            if not self._pending or not self.storage.shared or self._catalog_text is _UNKNOWN:
                return
            self._ahead = self._new_ahead()
        taken = 0
        for item in self._pending:
            if not self._ahead.add(item):
                break
            taken += 1
        del self._pending[:taken]

    def _new_ahead(self) -> optimistic.Ahead:
        return optimistic.Ahead(
            self.storage,
            self._write_transaction,
            self._catalog_text,
            self._last_creation_time,
            may_read=time.monotonic() < self._others_active_until,
        )

    def _failed(self, items: list[Pending], exc: Exception) -> None:
        self._landed_at = time.monotonic()
        if isinstance(exc, ConflictError):
            self._retry(items, exc)
            return
        log.exception("commit failed", exc_info=exc)  # nothing in the batch committed
        for item in items:
            if not item.future.done():
                item.future.set_exception(exc)

    def _send_blind(self, items: list[Pending], prepared: optimistic.Prepared) -> None:
        """Send a batch that read nothing: its writes, checks and timestamps go out with COMMIT
        in one round trip (``StorageWriter.commit_at_clock``). Where the storage answers later
        (``postgres_nowait``), the loop goes on serving while the database commits it and the
        next batch runs ahead meanwhile (``_run_ahead``); nothing else commits until it lands:
        ``_flush`` and ``follow`` wait for it."""
        tail = self._begin_tail()
        sending = self.storage.send_at_clock(
            lambda w: replay(w, prepared.ops),
            blind.entries(prepared, self.runtime.time_ns),
            self.delivered_ts,
            _CATCH_UP_PAGE,
            blind.expectations(prepared),
        )
        self._last_creation_time = prepared.last_creation_time
        if sending.poll():
            self._landed(items, prepared, sending, tail)
            return
        self._in_flight = sending
        blind.watch(sending, lambda: self._landed(items, prepared, sending, tail))

    def _begin_tail(self) -> int:
        """Number a batch that reads other nodes' commits with the clock (``follow``)."""
        self._tails_begun += 1
        self._tail_begun_at = time.monotonic()
        # A batch held for the writers the last one answered follows it as closely as it can.
        since = self._tail_begun_at - max(self._landed_at, self._gathered_at)
        self._hearing.batch_began(since, self.follow_grace_seconds)
        return self._tails_begun

    def _landed(
        self, items: list[Pending], prepared: optimistic.Prepared, done: CommitInFlight, tail: int
    ) -> None:
        self._in_flight = None
        ahead, self._ahead = self._ahead, None
        batch: Batch | None = None
        failure: Exception | None = None
        try:
            try:
                answer = done.result()
                self.optimistic_batches += 1
                batch = blind.landed_batch(
                    prepared, answer, self.catalog, self.latest_ts, self.delivered_ts
                )
                batch.tail = tail
            except ExpectationFailed:
                self.optimistic_reruns += 1
                failure = _RAN_AGAIN
                batch = self._commit_batch(items, None)
        except Exception as exc:
            failure = exc
        hold = failure is None and batch is not None and self._holds_next(batch, ahead)
        if ahead is not None and not hold and (failure is not None or not ahead.items):
            ahead.close()
            if failure is not None:  # it ran after a batch that did not commit as it ran
                self._pending[:0] = ahead.items  # it runs again
            ahead = None
        if batch is not None:
            self._finish(batch)
        else:
            assert failure is not None
            self._failed(items, failure)
        if hold:
            self._hold(ahead or self._new_ahead(), for_writers=True)
        elif ahead is not None:
            self._hold(ahead, for_writers=False)
        if self._pending and not self._flush_scheduled:
            self._flush()
        self._tail_delivered.set()  # a follower waiting on it looks again

    def _holds_next(self, landed: Batch, ahead: optimistic.Ahead | None) -> bool:
        """Whether the batch after ``landed`` waits for the writers it answered: only while
        other nodes commit (``engine.gathering``)."""
        if time.monotonic() >= self._others_active_until:
            return False
        if ahead is None:
            # A new one runs ahead with the catalog the landed batch leaves: it must be known.
            if self._catalog_text is _UNKNOWN or landed.catalog is not self.catalog:
                return False
            return self.gathering.hold(len(landed.results), 0)
        return not ahead.full and self.gathering.hold(len(landed.results), len(ahead.items))

    def _hold(self, ahead: optimistic.Ahead, *, for_writers: bool) -> None:
        """Hold the next batch, ``ahead``, before it goes out. ``for_writers``: until as many
        writers as the landed batch answered have joined it (``_flush``), or the gathering's
        hold expires. Otherwise only until the loop's next turn, once the callers the landed
        batch answered have been resumed: sent at once, the message woke the PostgreSQL
        backend, which took the node's vCPU before their answers were written (two vCPUs,
        one node, 16 writers: 5.6 mutations a batch and 4,453/s; sent after them, 7.7 and
        5,933/s). Either way ``_send_gathered`` ends it, and the follower counts it as a
        batch on its way (``_holding``)."""
        self._ahead = ahead
        hold = self.gathering.hold_seconds
        self._gather_until = time.monotonic() + hold
        self._held_for_writers = for_writers
        loop = asyncio.get_running_loop()
        if for_writers:
            self._held = loop.call_later(hold, self._gather_expired)
        else:
            self._held = loop.call_soon(self._send_gathered)

    def _holding(self) -> bool:
        return self._held is not None and time.monotonic() < self._gather_until

    def _gather_expired(self) -> None:
        if self._held_for_writers:
            self.gathering.expire()
        self._send_gathered()

    def _send_gathered(self) -> None:
        """End a hold: the batch it held goes out (if anything joined it)."""
        if self._held is not None:
            self._held.cancel()
            self._held = None
        ahead, self._ahead = self._ahead, None
        assert ahead is not None
        self._gathered_at = time.monotonic()
        following = ahead.finish()
        if following.runs:
            self._last_creation_time = max(self._last_creation_time, ahead.last_creation_time)
            self._commit(ahead.items, following)
        if self._pending and not self._flush_scheduled:
            self._flush()

    def _finish(self, batch: Batch) -> None:
        """Answer a committed batch's callers, then deliver its commits (after the other
        nodes' commits it found, so listeners see every commit once, in order)."""
        self._landed_at = time.monotonic()
        if batch.catalog is not self.catalog:
            self.catalog, self._catalog_text = batch.catalog, _UNKNOWN
        self.latest_ts = batch.last_ts
        # Callers first: their wake-ups are queued ahead of the subscription work the listeners
        # schedule, so a writer's answer does not wait behind a fan-out to many clients.
        for item, outcome in batch.results:
            if item.future.done():
                continue
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        if batch.start_ts > self.delivered_ts:
            # Another node committed since we last looked: its commits go out first, so
            # every listener sees every commit once, in timestamp order.
            self._others_committed()
            if batch.missed is not None:
                if batch.missed:
                    self._deliver(batch.missed)
            else:
                self.catch_up(batch.start_ts)
        if batch.commits:
            self._deliver(batch.commits)
        if batch.tail:
            self._tails_delivered = max(self._tails_delivered, batch.tail)
            self._tail_delivered.set()

    def _deliver(self, commits: list[Commit]) -> None:
        self.commits_total += len(commits)
        self.delivered_ts = commits[-1].ts
        for listener in self._listeners:
            try:
                listener(commits)
            except Exception:
                log.exception("commit listener failed")

    def catch_up(self, upto: int | None = None) -> int:
        """Deliver commits other processes made since the last one delivered (up to ``upto``)
        to the listeners, in order, and adopt their catalog; returns how many there were.
        Runs on the event-loop thread, like commits, so the two never interleave."""
        found = 0
        while True:
            tail = self.storage.read_tail(self.delivered_ts, _CATCH_UP_PAGE, [CATALOG_KEY])
            rows = tail.commits
            if upto is not None:
                rows = [(ts, entry) for ts, entry in rows if ts <= upto]
            if not rows:
                return found
            # The newest committed catalog (it may hold our own changes).
            self._adopt_catalog(tail.values.get(CATALOG_KEY))
            commits = decode_commits(rows)
            self.latest_ts = max(self.latest_ts, commits[-1].ts)
            self._others_committed()
            found += len(commits)
            self._deliver(commits)

    def _others_committed(self) -> None:
        self._others_active_until = time.monotonic() + OTHERS_ACTIVE_SECONDS

    def _adopt_catalog(self, text: str | None) -> Catalog:
        if text != self._catalog_text:
            self.catalog, self._catalog_text = Catalog.from_json(text), text
        return self.catalog

    async def follow(
        self, wake: asyncio.Event, poll_seconds: float = 1.0, watch: CommitWatch | None = None
    ) -> None:
        """Deliver other nodes' commits as they land: on ``wake`` (a database notification) or
        every ``poll_seconds`` at the latest. With the ``watch`` that sets ``wake``, it stops
        listening while this node's batches follow one another and bring those commits
        themselves (``engine.hearing``). Runs until cancelled."""
        self._hearing = hearing = Hearing(watch)
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                    # cancellation that arrives as the event is set, and this loop would then
                    # never end.
                    async with asyncio.timeout(
                        self.follow_grace_seconds if hearing.muted else poll_seconds
                    ):
                        await wake.wait()
                except TimeoutError:
                    pass
                wake.clear()
                if hearing.muted:
                    # This node's batches deliver the others' commits; once it pauses it
                    # listens again, and the watch wakes us when it hears.
                    if self._paused():
                        hearing.paused()
                    continue
                await self._catch_up_unless_a_batch_does()
        finally:
            if hearing.muted:
                hearing.paused()
            self._hearing = Hearing()

    def _paused(self) -> bool:
        """Nothing in flight, held or queued for the follow grace."""
        return (
            self._in_flight is None
            and not self._holding()
            and not self._pending
            and not self._flush_next_turn
            and time.monotonic() - self._landed_at >= self.follow_grace_seconds
        )

    async def _catch_up_unless_a_batch_does(self) -> None:
        """After a notification: read the commits that woke us, unless a batch of this node's
        begun from now on brings them. Each batch reads other nodes' commits with the clock and
        delivers them first (``_read_tail``), so a node that keeps committing need not read
        them again: on three busy nodes such reads (about 1,100 per node in a 6 s run, 40% of
        them empty) each blocked the loop for a round trip. A node with nothing to commit
        right now waits ``follow_grace_seconds`` for a batch to begin if it began one lately
        (its writers' next requests are on their way), then reads them itself; an idle one
        reads them at once; and one woken while a batch is on its way waits for it to land
        first (a catch-up must not pass it)."""
        after = self._tails_begun
        idle_until: float | None = None
        loop = asyncio.get_running_loop()
        while self._tails_delivered <= after:
            wait = _FOLLOW_RECHECK_SECONDS
            if self._in_flight is None and not self._holding() and not self._flush_next_turn:
                now = loop.time()
                if idle_until is None:
                    busy = time.monotonic() - self._tail_begun_at < self.follow_busy_seconds
                    idle_until = now + self.follow_grace_seconds if busy else now
                if now >= idle_until or self._tails_begun > after:
                    self.catch_up()  # none began, or the one that did failed
                    return
                wait = idle_until - now
            self._tail_delivered.clear()
            try:
                async with asyncio.timeout(wait):
                    await self._tail_delivered.wait()
            except TimeoutError:
                pass

    def _retry(self, items: list[Pending], exc: ConflictError) -> None:
        loop = asyncio.get_running_loop()
        again = []
        for item in items:
            item.attempts += 1
            if item.attempts > self.settings.mutation_retries:
                if not item.future.done():
                    item.future.set_exception(exc)
            else:
                again.append(item)
        if again:
            self._pending = again + self._pending
            delay = min(0.01 * 2 ** max(i.attempts for i in again), 1.0)
            self._flush_scheduled = True
            loop.call_later(delay, self._flush)

    def _prepare(self, items: list[Pending]) -> optimistic.Prepared | None:
        """Run the batch ahead of the clock where it may (``engine.optimistic``)."""
        if not self.storage.shared or self._catalog_text is _UNKNOWN:
            return None
        return optimistic.prepare(
            self.storage,
            items,
            self._write_transaction,
            self._catalog_text,
            self._last_creation_time,
            may_read=time.monotonic() < self._others_active_until,
        )

    def _commit_batch(
        self, items: list[Pending], prepared: optimistic.Prepared | None = None
    ) -> Batch:
        """Commit ``items`` under the clock: replayed as they ran ahead (``prepared``) if what
        they read still holds, else run one by one."""
        # A batch of one needs no savepoint: if it fails, the whole transaction rolls back.
        savepoints = len(items) > 1
        last_ct = self._last_creation_time
        try:
            with self.storage.writer() as w:
                missed, tail = None, 0
                if self.storage.shared:
                    tail = self._begin_tail()
                    missed, holds = self._read_tail(w, prepared)
                start = max(w.latest_ts(), self.latest_ts)
                batch = Batch(self.catalog, start, start, missed, tail=tail)
                if prepared is not None and holds:
                    self.optimistic_batches += 1
                    last_ct = self._commit_prepared(w, prepared, batch)
                else:
                    self.optimistic_reruns += prepared is not None
                    for item in items:
                        last_ct = self._run_one(w, item, batch, last_ct, savepoints)
                if not savepoints and isinstance(batch.results[0][1], BaseException):
                    raise _Abort
        except _Abort:
            return batch
        self._last_creation_time = last_ct
        return batch

    def _read_tail(
        self, w: StorageWriter, prepared: optimistic.Prepared | None
    ) -> tuple[list[Commit] | None, bool]:
        """With the clock: other nodes' commits not yet delivered (None if more than a page),
        the catalog they left, and whether ``prepared`` may commit as it ran."""
        since, keys = self.delivered_ts, [CATALOG_KEY]
        if prepared is not None:
            if prepared.snapshot_ts is not None:
                since = min(since, prepared.snapshot_ts)
            keys += prepared.new_keys
        tail = w.tail(since, _CATCH_UP_PAGE, keys)
        catalog_text = tail.values.get(CATALOG_KEY)
        self._adopt_catalog(catalog_text)
        commits = decode_commits(tail.commits)
        holds = (
            prepared is not None
            and tail.complete
            and prepared.holds(catalog_text, commits, set(tail.values))
        )
        return self._not_delivered(commits, tail.complete), holds

    def _not_delivered(self, commits: list[Commit], complete: bool) -> list[Commit] | None:
        """The commits of a tail this node has not delivered yet (None if the tail was cut
        short: ``catch_up`` reads the rest)."""
        return [c for c in commits if c.ts > self.delivered_ts] if complete else None

    def _write_transaction(
        self,
        store: StorageWriter,
        last_ct: float,
        catalog: Catalog | None = None,
        snapshot_ts: int | None = None,
    ) -> Transaction:
        tx = Transaction(
            store,
            catalog or self.catalog,
            self.schema,
            self.runtime,
            self.settings.limits,
            now_ms=self.runtime.time_ns() / 1e6,
            writable=True,
            snapshot_ts=self.latest_ts if snapshot_ts is None else snapshot_ts,
        )
        tx._last_creation_time = last_ct
        tx.on_change = self.change_hook
        return tx

    def _commit_prepared(
        self, w: StorageWriter, prepared: optimistic.Prepared, batch: Batch
    ) -> float:
        """Replay a batch that ran ahead (``engine.optimistic``) and give each mutation its
        timestamp, as ``_run_one`` would have."""
        replay(w, prepared.ops)
        for run in prepared.runs:
            if run.error is not None:
                batch.results.append((run.item, run.error))
                continue
            ts = self._append(w, batch, run.writes) if run.writes else batch.last_ts
            self._keep_record(w, run.item, run.stored, ts)
            batch.results.append((run.item, MutationOutcome(run.value, ts)))
        return prepared.last_creation_time

    def _append(self, w: StorageWriter, batch: Batch, writes: list[Write]) -> int:
        """Log one mutation's writes as a commit; its timestamp."""
        ts = max(self.runtime.time_ns(), batch.last_ts + 1)
        w.append_commit(ts, dumps({"writes": [x.to_json() for x in writes]}))
        batch.last_ts = ts
        batch.commits.append(Commit(ts, writes))
        return ts

    def _keep_record(self, w: StorageWriter, item: Pending, kept: str | None, ts: int) -> None:
        if item.record_key is not None and kept is not None:
            record = idempotency.record_text(kept, ts, item.fingerprint, self.runtime.time_ns())
            idempotency.store(w, item.record_key, record)

    def _run_one(
        self, w: StorageWriter, item: Pending, batch: Batch, last_ct: float, savepoints: bool
    ) -> float:
        if item.record_key is not None:
            stored = w.get_global(item.record_key)
            if stored is not None and not idempotency.expired(stored, self.records_expire_before()):
                batch.results.append((item, item.stored_outcome(stored)))
                return last_ct
        if savepoints:
            w.savepoint()
        tx = self._write_transaction(w, last_ct, batch.catalog, batch.last_ts)
        try:
            value, stored = item.run(tx)
        except Exception as exc:
            if savepoints:
                w.rollback_to_savepoint()
            batch.results.append((item, exc))
            return last_ct
        ts = batch.last_ts
        if tx.writes or tx.catalog_changed:
            ts = self._append(w, batch, tx.writes)
            if tx.catalog_changed:
                w.set_global(CATALOG_KEY, tx.catalog.to_json())
                batch.catalog = tx.catalog
        self._keep_record(w, item, stored, ts)
        if savepoints:
            w.release_savepoint()
        batch.results.append((item, MutationOutcome(value, ts)))
        return tx._last_creation_time


def _max_creation_time(r: StorageReader, catalog: Catalog) -> float:
    """The newest ``_creationTime`` stored, so new documents sort after it even if the clock
    went back across a restart."""
    newest = 0.0
    for table in catalog.tables.values():
        index = table.indexes[BY_CREATION_TIME]
        rows = r.scan_index(index.index_id, b"", b"\xff\xff", reverse=True, limit=1)
        if rows:
            newest = max(newest, float(decode_document(rows[0].document)["_creationTime"]))
    return newest


class _Abort(Exception):
    """Rolls back a single-mutation batch whose mutation failed."""
