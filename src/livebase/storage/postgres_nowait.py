"""One simple-protocol message sent without waiting for its answer, read as it arrives.

A node's event loop must not sit in ``recv`` while PostgreSQL runs a batch's commit: it has the
next batch's requests to read and its mutations to run (``Engine._send_blind``). A thread would
wait instead, but it needs the GIL back to send and to read the answer, and the loop, busy
running mutations, gives it up only every few milliseconds. So the message goes out through
libpq's non-blocking calls on the loop's own thread, and the loop watches the socket:
``poll`` sends what is left and reads what has come, never blocking, until every statement's
result is in. The connection is then ready for the next message, as after a blocking execute.

The results are handed to the statements' callbacks through ``Results``, a cursor-like reader
of the text-format values this module's callers select (integers and text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq

_INTEGERS = frozenset({20, 21, 23, 26})  # int8, int2, int4, oid
_TEXTS = frozenset({25, 1043, 19, 705})  # text, varchar, name, unknown


class Results:
    """One statement's rows, read like a cursor's (``fetchone``, ``fetchall``)."""

    def __init__(self, result: pq.abc.PGresult) -> None:
        self._rows = _rows(result)
        self._next = 0

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]


def _rows(result: pq.abc.PGresult) -> list[tuple[Any, ...]]:
    decoders: list[Callable[[bytes], Any]] = []
    for col in range(result.nfields):
        oid = result.ftype(col)
        if oid in _INTEGERS:
            decoders.append(int)
        elif oid in _TEXTS:
            decoders.append(lambda b: b.decode("utf-8"))
        else:
            raise TypeError(f"column {col} has type oid {oid}: only integers and text are read")
    rows = []
    for row in range(result.ntuples):
        values = []
        for col, decode in enumerate(decoders):
            raw = result.get_value(row, col)
            values.append(None if raw is None else decode(raw))
        rows.append(tuple(values))
    return rows


OnResults = Callable[[Results], None] | None


class Sent:
    """A message on its way: ``poll`` until it returns True, then ``finish``."""

    def __init__(
        self, conn: psycopg.Connection[Any], text: str, callbacks: Sequence[OnResults]
    ) -> None:
        self._conn = conn
        self._pgconn = conn.pgconn
        self._callbacks = list(callbacks)
        self._results: list[pq.abc.PGresult] = []
        self.done = False
        self._pgconn.nonblocking = 1
        self._pgconn.send_query(text.encode("utf-8"))
        self.wants_write = self._pgconn.flush() == 1
        self.fileno = self._pgconn.socket

    def poll(self) -> bool:
        """Send what is left, read what has arrived; True once the whole answer is in.
        Raises ``psycopg.OperationalError`` if the connection is lost (the caller stops
        watching the socket, then drops the connection)."""
        if self.done:
            return True
        if self.wants_write:
            self.wants_write = self._pgconn.flush() == 1
            if self.wants_write:
                return False
        self._pgconn.consume_input()
        while not self._pgconn.is_busy():
            result = self._pgconn.get_result()
            if result is None:
                self.done = True
                return True
            self._results.append(result)
        return False

    def finish(self) -> None:
        """Hand each statement's rows to its callback; raises the first statement's error
        (the server skipped the rest of the message then)."""
        assert self.done
        encoding = self._conn.info.encoding
        for result in self._results:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise pg_errors.error_from_result(result, encoding=encoding)
        for callback, result in zip(self._callbacks, self._results, strict=False):
            if callback is not None:
                callback(Results(result))


__all__ = ["Results", "Sent"]
