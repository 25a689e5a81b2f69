"""A SQLite write transaction's row inserts, deletes and savepoints, queued and run together.

A mutation in a batch runs in a savepoint of its own, so that it can fail alone, and made five
statements: the savepoint, its document, its index entries, its commit-log row and the
savepoint's release. Once a transaction opens a savepoint, its writes are queued instead, and
the queue runs when the transaction next reads, runs a statement of another kind, or commits:
each run of row inserts becomes one statement per table (a batch of ten mutations runs three
statements instead of fifty), and everything else runs in its place in the queue, so the
transaction still reads its own writes. Inserts into different tables are independent, so
their order across tables may change inside a run; within a table it is kept, so a later
version of a row still lands last. A transaction without savepoints (a batch of one) writes as
it goes: queueing would only add work there.

A savepoint still in the queue is never run (``queued_savepoints``). A statement that fails
when the queue runs fails the whole transaction (the engine then fails the batch): SQLite undoes
the failing statement only, and the queue may have stopped before a savepoint it held, so every
later read, and the commit, raise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from livebase.storage.queued_savepoints import QueuedSavepoints

MAX_ROWS = 32
"""Rows per multi-row ``INSERT``; a longer run goes through ``executemany``."""


class RowInsert:
    """An ``INSERT`` into one table: ``head`` + ``width`` values per row, any number of rows."""

    __slots__ = ("_sql",)

    def __init__(self, head: str, width: int) -> None:
        row = "(" + ",".join(["?"] * width) + ")"
        self._sql = [head + ",".join([row] * n) for n in range(MAX_ROWS + 1)]

    def run(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
        n = len(rows)
        if n == 1:
            conn.execute(self._sql[1], rows[0])
        elif n <= MAX_ROWS:
            conn.execute(self._sql[n], [x for row in rows for x in row])
        else:
            conn.executemany(self._sql[1], rows)


class _Rows:
    """Queued rows for one ``RowInsert``."""

    __slots__ = ("insert", "rows")

    def __init__(self, insert: RowInsert, rows: list[Sequence[Any]]) -> None:
        self.insert = insert
        self.rows = rows


_Statement = tuple[str, Sequence[Any]]


class DeferredWrites(QueuedSavepoints):
    """One write transaction's queue, and its open savepoints."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._queue: list[_Rows | _Statement] = []
        self._savepoints: list[int | None] = []
        """Per open savepoint (innermost last): its place in the queue, or None once run."""
        self.queueing = False
        """Whether writes are queued: from the transaction's first savepoint on."""
        self._failed: BaseException | None = None

    def rows(self, insert: RowInsert, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (one ``RowInsert`` per table: a run's rows are grouped by it)."""
        if not self.queueing:
            insert.run(self._conn, rows)
            return
        queue = self._queue
        last = queue[-1] if queue else None
        if isinstance(last, _Rows) and last.insert is insert:
            last.rows.extend(rows)
        else:
            queue.append(_Rows(insert, list(rows)))

    def statement(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.queueing:
            self._queue.append((sql, params))
        else:
            self._conn.execute(sql, params)

    def flush(self) -> None:
        """Run the queue, in order (each run of row inserts grouped by statement). Once a
        queued write has failed, this raises for the rest of the transaction."""
        if self._failed is not None:
            raise sqlite3.OperationalError(
                f"an earlier write of this transaction failed: {self._failed}"
            ) from self._failed
        if not self._queue:
            return
        queue, self._queue = self._queue, []
        self._savepoints = [None] * len(self._savepoints)
        try:
            self._run(queue)
        except BaseException as exc:
            # SQLite undoes only the failing statement, and some of the queue may not have run
            # (savepoints included): nothing of this transaction may commit now.
            self._failed = exc
            raise

    def _run(self, queue: list[_Rows | _Statement]) -> None:
        conn = self._conn
        run: dict[RowInsert, list[Sequence[Any]]] = {}
        for entry in queue:
            if isinstance(entry, _Rows):
                grouped = run.get(entry.insert)
                if grouped is None:
                    run[entry.insert] = entry.rows
                else:
                    grouped.extend(entry.rows)
                continue
            for insert, rows in run.items():
                insert.run(conn, rows)
            run = {}
            conn.execute(*entry)
        for insert, rows in run.items():
            insert.run(conn, rows)

    def _queue_sql(self, sql: str) -> None:
        self.statement(sql)

    def savepoint(self) -> None:
        self.queueing = True
        super().savepoint()


class FlushingConnection:
    """The writer's connection as its reads and other statements see it: the queue runs
    first, so the transaction sees its own writes."""

    def __init__(self, conn: sqlite3.Connection, deferred: DeferredWrites) -> None:
        self._conn = conn
        self._deferred = deferred

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        self._deferred.flush()
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        self._deferred.flush()
        return self._conn.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
