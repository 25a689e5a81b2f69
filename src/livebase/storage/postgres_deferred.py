"""A PostgreSQL write transaction in as few round trips as it can: statements that need no answer
are queued and sent together with the next one that does.

A mutation's inserts, index entries, deletes and savepoints each cost a round trip to the server
when sent as they happen, and the event loop waits for every one. Here they are queued, and the
queue goes out as one simple-protocol message (the statements joined by ``;``, their values
written in as literals by ``postgres_literals``) together with the next statement that needs
an answer (a read, an index scan: it goes last in the same message) and with ``COMMIT``. One
send and one answer, however many statements: psycopg's pipeline mode sent each statement on
its own and bound each through a fresh adapter, which cost more CPU than the round trips it
saved. Statements stay in order, and a transaction's reads still see its own writes.

The transaction's start is queued too: ``BEGIN`` and the statement that takes the commit clock
(its answer is handed to a callback) go out with the first read, so a batch of mutations that
only insert costs two round trips: the clock with whatever the engine reads first, then the
writes with ``COMMIT``. A transaction that queued nothing else sends nothing at all.

Inserts are queued as rows: when the queue goes out, each run of inserts (between two other
statements) becomes one multi-row ``INSERT`` per table, so a batch of mutations sends one
statement for its documents, one for their index entries and one for its commit-log rows
instead of three per mutation. Inserts into different tables are independent, so their order
across tables may change inside a run; an upsert's rows are split where a key repeats, so a
later version of a row still lands after an earlier one.

A savepoint still in the queue is never sent: rolling back to it drops the statements queued
after it, and releasing it drops the marker. Once the queue has gone out, savepoints are the
server's, and rolling back to one is queued like any write. A statement that fails in the
message fails the transaction when the queue is sent (the server skips the rest), as it would
have at its own turn (the engine then retries or fails the batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg import pq

from livebase.storage import postgres_literals, postgres_nowait
from livebase.storage.queued_savepoints import QueuedSavepoints

OnResult = Callable[["psycopg.Cursor[Any]"], None]
MAX_PARAMS = 30_000
"""Per multi-row statement (PostgreSQL takes at most 65,535)."""


@dataclass(frozen=True, eq=False)  # a constant per table: hashed by identity, as queued
class RowInsert:
    """An ``INSERT`` that takes any number of rows: ``head`` + rows joined by commas + ``tail``.
    ``keyed``: an upsert, whose rows must not repeat the first column in one statement."""

    head: str
    width: int
    tail: str = ""
    keyed: bool = False

    def sql(self, rows: int) -> str:
        row = "(" + ",".join(["%s"] * self.width) + ")"
        return self.head + ",".join([row] * rows) + self.tail


@dataclass
class _Rows:
    insert: RowInsert
    rows: list[Sequence[Any]]


_Statement = tuple[str, Sequence[Any] | None, OnResult | None]


class DeferredWrites(QueuedSavepoints):
    """A write transaction's queue of statements, and its open savepoints."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur
        self._queue: list[_Statement | _Rows] = []
        self._savepoints: list[int | None] = []
        """Per open savepoint (innermost last): its place in the queue, or None once sent."""
        self._prologue = 0
        """Statements at the head of the queue that only start the transaction."""
        self.begun = False
        """Whether ``BEGIN`` has gone out (the server holds an open transaction)."""
        self.committed = False
        self.round_trips = 0
        """Messages sent (for tests)."""
        self._client: psycopg.ClientCursor[Any] | None = None
        """Where the queue is bound into text and sent (created on the first flush)."""

    def begin(self, lock_sql: str, on_locked: OnResult) -> None:
        """Queue the transaction's start: ``BEGIN`` and ``lock_sql``, whose answer goes to
        ``on_locked`` when it arrives."""
        self.defer("BEGIN")
        self.defer(lock_sql, on_result=on_locked)
        self._prologue = len(self._queue)

    def take_clock_last(self) -> None:
        """Drop the clock's statement from the transaction's start if it has not gone out: a
        transaction that ends at the clock (``postgres_clocked``) takes it there, after its
        writes, and holds it for less."""
        if not self.begun and self._prologue == 2:
            del self._queue[1]
            self._prologue = 1
            self._savepoints = [None if p is None else p - 1 for p in self._savepoints]

    def defer(
        self, sql: str, params: Sequence[Any] | None = None, *, on_result: OnResult | None = None
    ) -> None:
        self._queue.append((sql, params, on_result))

    def defer_rows(self, insert: RowInsert, rows: list[Sequence[Any]]) -> None:
        if rows:
            self._queue.append(_Rows(insert, rows))

    def flush(
        self, read: tuple[tuple[Any, ...], dict[str, Any]] | None = None
    ) -> psycopg.Cursor[Any] | None:
        """Send the queue, in order, as one message, with ``read`` (execute's arguments) last;
        returns the cursor holding ``read``'s results. Raises what the server raised."""
        if not self._queue:
            if read is None:
                return None
            self.round_trips += 1
            return self._cur.execute(*read[0], **read[1])
        text, statements = self._message(read)
        cur = self._client
        assert cur is not None
        cur.execute(text)
        self.round_trips += 1
        for i, (_, _, on_result) in enumerate(statements):
            if on_result is not None:
                on_result(cur)
            if i < len(statements) - (read is None):
                cur.nextset()
        return cur if read is not None else None

    def _message(
        self, read: tuple[tuple[Any, ...], dict[str, Any]] | None
    ) -> tuple[str, list[_Statement]]:
        """Take the queue (and ``read``, last) as one simple-protocol message: one send and
        one answer, however many statements (a pipeline sends each statement on its own, and
        waits for the socket between them)."""
        queue, self._queue = self._queue, []
        self._savepoints = [None] * len(self._savepoints)
        self._prologue = 0
        self.begun = True
        if self._client is None:
            self._client = psycopg.ClientCursor(self._cur.connection)
        statements = _statements(queue)
        texts = [_bound(self._client, sql, params) for sql, params, _ in statements]
        if read is not None:
            texts.append(_bound(self._client, *read[0]))
        return ";\n".join(texts), statements

    def commit(self) -> None:
        """Queue ``COMMIT`` and send everything; a transaction that queued nothing but its own
        start sends nothing; a second call does nothing."""
        if self._end():
            self.flush()

    def send_commit(self) -> postgres_nowait.Sent | None:
        """``commit`` without waiting for the answer (``postgres_nowait``): the callbacks get
        their rows at ``Sent.finish``. None if there was nothing to send."""
        if not self._end():
            return None
        text, statements = self._message(None)
        self.round_trips += 1
        callbacks = [cast("postgres_nowait.OnResults", on_result) for _, _, on_result in statements]
        return postgres_nowait.Sent(self._cur.connection, text, callbacks)

    def _end(self) -> bool:
        """Queue ``COMMIT`` once; False if there is nothing to send."""
        if self.committed:
            return False
        self.committed = True
        if not self.begun and len(self._queue) == self._prologue:
            self._queue.clear()
            return False
        self.defer("COMMIT")
        return True

    def abandon(self) -> None:
        """After an error: roll back what the server holds and forget the queue. Raises what
        the connection raises if it cannot (the caller then drops the connection)."""
        self._queue.clear()
        self._savepoints.clear()
        status = self._cur.connection.pgconn.transaction_status
        if status in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR):
            self.round_trips += 1
            self._cur.connection.execute("ROLLBACK")

    def _queue_sql(self, sql: str) -> None:
        self.defer(sql)


def _bound(cur: psycopg.ClientCursor[Any], sql: str, params: Any = None) -> str:
    text = postgres_literals.bind(sql, params)
    return cur.mogrify(sql, params) if text is None else text


def _statements(queue: list[_Statement | _Rows]) -> list[_Statement]:
    """The queue as statements to send, each run of row inserts merged (see the module
    docstring)."""
    out: list[_Statement] = []
    run: list[_Rows] = []
    for entry in queue:
        if isinstance(entry, _Rows):
            run.append(entry)
            continue
        out.extend(_merged(run))
        run = []
        out.append(entry)
    out.extend(_merged(run))
    return out


def _merged(run: list[_Rows]) -> list[_Statement]:
    chunks: dict[RowInsert, list[list[Sequence[Any]]]] = {}
    keys: dict[RowInsert, set[Any]] = {}
    for entry in run:
        insert = entry.insert
        table = chunks.setdefault(insert, [[]])
        seen = keys.setdefault(insert, set())
        for row in entry.rows:
            repeat = insert.keyed and row[0] in seen
            if repeat or (len(table[-1]) + 1) * insert.width > MAX_PARAMS:
                table.append([])
                seen.clear()
            table[-1].append(row)
            if insert.keyed:
                seen.add(row[0])
    out: list[_Statement] = []
    for insert, table in chunks.items():
        for rows in table:
            values = postgres_literals.rows(rows)
            if values is None:  # a value psycopg must bind
                out.append((insert.sql(len(rows)), [x for row in rows for x in row], None))
            else:  # written out already: no parameters, so a "%" in it is only text
                out.append((insert.head + values + insert.tail, None, None))
    return out


class FlushingCursor:
    """The writer's cursor as its readers see it: a statement that needs an answer goes out
    with the queue, last in the same message, so the transaction reads its own writes."""

    def __init__(self, cur: psycopg.Cursor[Any], deferred: DeferredWrites) -> None:
        self._cur = cur
        self._deferred = deferred

    def execute(self, *args: Any, **kwargs: Any) -> psycopg.Cursor[Any]:
        cur = self._deferred.flush((args, kwargs))
        assert cur is not None
        return cur

    def executemany(self, *args: Any, **kwargs: Any) -> None:
        self._deferred.flush()
        self._cur.executemany(*args, **kwargs)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        self._deferred.flush()
        return self._cur.copy(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)
