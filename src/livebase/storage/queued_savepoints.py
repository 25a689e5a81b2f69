"""Savepoints of a write transaction whose statements wait in a queue (``postgres_deferred``,
``sqlite_deferred``).

A savepoint still in the queue is never sent: rolling back to it drops what was queued after
it, and releasing it drops the marker alone (the writes after it stay queued). Once the queue
has gone out, the savepoint is the database's, and rolling back to it or releasing it is queued
like any statement.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

SAVEPOINT = "SAVEPOINT lb"


class QueuedSavepoints(ABC):
    """Mixed into a queue: ``_queue`` holds what waits, ``_savepoints`` each open savepoint's
    place in it (innermost last; None once it went out), ``_queue_sql`` queues a statement."""

    _queue: list[Any]
    _savepoints: list[int | None]

    @abstractmethod
    def _queue_sql(self, sql: str) -> None:
        """Queue ``sql`` behind what waits (each queue has its own statement form)."""

    def savepoint(self) -> None:
        self._savepoints.append(len(self._queue))
        self._queue_sql(SAVEPOINT)

    def rollback_to_savepoint(self) -> None:
        place = self._savepoints.pop()
        if place is not None:
            del self._queue[place:]  # never sent: what was queued after it is simply dropped
            return
        self._queue_sql("ROLLBACK TO SAVEPOINT lb")
        self._queue_sql("RELEASE SAVEPOINT lb")

    def release_savepoint(self) -> None:
        place = self._savepoints.pop()
        if place is not None:
            del self._queue[place]  # the marker only; the writes after it stay queued
        else:
            self._queue_sql("RELEASE SAVEPOINT lb")
