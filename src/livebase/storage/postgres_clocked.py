"""A PostgreSQL write transaction that ends in one round trip: checks, timestamps and COMMIT
computed by the server (``StorageWriter.commit_at_clock``).

A batch of mutations that ran ahead of the commit clock (``engine.optimistic``) and read
nothing needs no answer from the database before it commits: only that the catalog is still
the one it ran with and that no idempotency record it would make appeared meanwhile. So
everything goes out in one message: ``BEGIN``, the clock (``FOR UPDATE``), the commits since
the node last looked, the check (``lb_expect``, which fails the transaction if a global moved),
the queued writes, the commit-log rows, the clock's new value, ``NOTIFY`` and ``COMMIT``. The
clock is held only while the server runs those statements, never while the node thinks, so
nodes committing side by side do not wait on each other's round trips.

Timestamps are computed on the server from the clock it locked, and again on the node from the
same value once it comes back: for entries ``i = 0..k-1`` with ``not_before[i]``, and
``m[i] = max(not_before[j] - j for j <= i)``, entry ``i`` gets ``i + greatest(clock + 1, m[i])``,
which is ``clock_timestamps`` (each strictly after the previous, at least its ``not_before``)
in closed form, so both sides agree without another round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from livebase.storage.base import ClockedCommit, ExpectationFailed, LogTail, clock_timestamps
from livebase.storage.postgres_deferred import DeferredWrites

FUNCTIONS = """
CREATE OR REPLACE FUNCTION lb_expect(ok boolean) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ok THEN
        RAISE EXCEPTION 'livebase: a global changed since the batch ran' USING ERRCODE = 'LB001';
    END IF;
    RETURN true;
END $$;
"""
_EXPECTATION_FAILED = "LB001"
_EXPECT = (
    "SELECT lb_expect(NOT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::text[]) AS e(k, v) "
    'WHERE (SELECT g.value FROM lb_globals g WHERE g.key = e.k COLLATE "C") '
    "IS DISTINCT FROM e.v))"
)
_INSERT_COMMITS = (
    "INSERT INTO lb_commits (ts, entry) SELECT t.i + greatest(c.ts + 1, t.m), t.e "
    "FROM lb_clock c, unnest(%s::bigint[], %s::bigint[], %s::text[]) AS t(i, m, e) "
    "WHERE c.id = 1"
)
_MOVE_CLOCK = "UPDATE lb_clock SET ts = %s + greatest(ts + 1, %s) WHERE id = 1"


def running_floor(not_before: Sequence[int]) -> list[int]:
    """``m[i] = max(not_before[j] - j for j <= i)`` (see the module docstring)."""
    out: list[int] = []
    for i, ns in enumerate(not_before):
        out.append(ns - i if not out else max(out[-1], ns - i))
    return out


@dataclass(frozen=True)
class End:
    """How a write transaction ends at the clock: ``commit_at_clock``'s arguments, and where
    the backend reads the tail (``tail_sql``, parsed by ``read_tail``) and the clock its start
    locked (``start_ts()``, known once the answer is in)."""

    tail_sql: str
    read_tail: Callable[[list[tuple[Any, ...]], int], LogTail]
    start_ts: Callable[[], int]
    channel: str
    entries: Sequence[tuple[int, str]]
    since_ts: int
    limit: int
    expect: Mapping[str, str | None]

    def queue(self, deferred: DeferredWrites) -> list[tuple[Any, ...]]:
        """Queue the tail, the check, the commit-log rows, the clock and NOTIFY after what
        ``deferred`` holds; the list the tail's rows will be put in."""
        keys = list(self.expect)
        rows: list[tuple[Any, ...]] = []
        deferred.defer(
            self.tail_sql,
            (self.since_ts, self.limit, keys),
            on_result=lambda c: rows.extend(c.fetchall()),
        )
        deferred.defer(_EXPECT, (keys, [self.expect[k] for k in keys]))
        not_before = [ns for ns, _ in self.entries]
        floor = running_floor(not_before)
        if self.entries:
            texts = [entry for _, entry in self.entries]
            deferred.defer(_INSERT_COMMITS, (list(range(len(texts))), floor, texts))
            deferred.defer(_MOVE_CLOCK, (len(texts) - 1, floor[-1]))
            deferred.defer(f"NOTIFY {self.channel}")
        return rows

    def done(self, rows: list[tuple[Any, ...]]) -> ClockedCommit:
        start = self.start_ts()
        not_before = [ns for ns, _ in self.entries]
        return ClockedCommit(
            start, self.read_tail(rows, self.limit), clock_timestamps(start, not_before)
        )


def commit(deferred: DeferredWrites, end: End) -> ClockedCommit:
    """Queue ``end`` after what ``deferred`` holds and send it all with COMMIT."""
    rows = end.queue(deferred)
    try:
        deferred.commit()
    except psycopg.Error as exc:
        raise expectation_failed(exc) or exc from None
    return end.done(rows)


class Sending:
    """``commit`` sent without waiting for the answer (``DeferredWrites.send_commit``)."""

    def __init__(self, deferred: DeferredWrites, end: End) -> None:
        self._end = end
        self._rows = end.queue(deferred)
        sent = deferred.send_commit()
        assert sent is not None  # the clock's statements at least
        self.sent = sent

    def result(self) -> ClockedCommit:
        """Once ``sent`` has all of its answer; raises ``ExpectationFailed`` or the server's
        error (the transaction is then left to roll back)."""
        try:
            self.sent.finish()
        except psycopg.Error as exc:
            raise expectation_failed(exc) or exc from None
        return self._end.done(self._rows)


def expectation_failed(exc: psycopg.Error) -> ExpectationFailed | None:
    if exc.sqlstate == _EXPECTATION_FAILED:
        return ExpectationFailed(str(exc).strip())
    return None


__all__ = ["FUNCTIONS", "End", "Sending", "commit", "expectation_failed", "running_floor"]
