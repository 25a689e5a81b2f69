"""Writes a PostgreSQL write transaction needs no answer to, sent together instead of one by one.

A mutation's inserts, index entries, deletes and savepoints each cost a round trip to the server
when sent as they happen, and the event loop waits for every one: about four per mutation, which
held one node to about a third of what PostgreSQL itself commits. Here they are queued, and the
queue goes out in one pipeline (psycopg's pipeline mode: every statement sent, then one sync)
right before the next statement that needs an answer (a read, an index scan) and before
``COMMIT``. Statements stay in order, and a transaction's reads still see its own writes.

A savepoint still in the queue is never sent: rolling back to it drops the statements queued
after it, and releasing it drops the marker. Once the queue has gone out, savepoints are the
server's, as before. A statement that fails in the pipeline fails the transaction when the
queue is sent, as it would have at its own turn (the engine then retries or fails the batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

SAVEPOINT = "SAVEPOINT lb"


class DeferredWrites:
    """A write transaction's queue of statements, and its open savepoints."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur
        self._queue: list[tuple[str, Sequence[Any] | None]] = []
        self._savepoints: list[int | None] = []
        """Per open savepoint (innermost last): its place in the queue, or None once sent."""
        self.sent = 0
        """Pipelines sent (for tests)."""

    def defer(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self._queue.append((sql, params))

    def flush(self) -> None:
        """Send the queue, in order, in one pipeline; raises what the server raised."""
        if not self._queue:
            return
        queue, self._queue = self._queue, []
        self._savepoints = [None] * len(self._savepoints)
        conn = self._cur.connection
        with conn.pipeline(), conn.cursor() as cur:
            for sql, params in queue:
                cur.execute(sql, params)
        self.sent += 1

    def savepoint(self) -> None:
        self._savepoints.append(len(self._queue))
        self.defer(SAVEPOINT)

    def rollback_to_savepoint(self) -> None:
        place = self._savepoints.pop()
        if place is not None:
            del self._queue[place:]  # never sent: the statements after it are simply dropped
            return
        self.flush()
        self._cur.execute("ROLLBACK TO SAVEPOINT lb")
        self._cur.execute("RELEASE SAVEPOINT lb")

    def release_savepoint(self) -> None:
        place = self._savepoints.pop()
        if place is not None:
            del self._queue[place]  # the marker only; the writes after it stay queued
        else:
            self.defer("RELEASE SAVEPOINT lb")


class FlushingCursor:
    """The writer's cursor as its readers see it: the queue goes out before any statement that
    needs an answer, so the transaction reads its own writes."""

    def __init__(self, cur: psycopg.Cursor[Any], deferred: DeferredWrites) -> None:
        self._cur = cur
        self._deferred = deferred

    def execute(self, *args: Any, **kwargs: Any) -> psycopg.Cursor[Any]:
        self._deferred.flush()
        return self._cur.execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> None:
        self._deferred.flush()
        self._cur.executemany(*args, **kwargs)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        self._deferred.flush()
        return self._cur.copy(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)
