"""A PostgreSQL write transaction that ends in one round trip: checks, timestamps and COMMIT
computed by the server (``StorageWriter.commit_at_clock``).

A batch of mutations that ran ahead of the commit clock (``engine.optimistic``) and read
nothing needs no answer from the database before it commits: only that the catalog is still
the one it ran with and that no idempotency record it would make appeared meanwhile. So
everything goes out in one message: ``BEGIN``, the queued writes, one call of
``lb_commit_at_clock`` and ``COMMIT``. The function takes the clock (``FOR UPDATE``), fails the
transaction if a global moved, returns the clock and the commits since the node last looked,
and writes the commit-log rows, the clock's new value and the notification. The clock is taken
after the writes, held only while the server runs the function and commits, never while the
node thinks, so nodes committing side by side do not wait on each other's round trips.

One function rather than its six statements sent as text: PostgreSQL parses, analyses and
plans every statement of a simple-protocol message, and for these six that was about half of
its CPU per transaction (perf, one node, 16 writers); a PL/pgSQL function plans its statements
once per connection.

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
CREATE OR REPLACE FUNCTION lb_commit_at_clock(
    since bigint, lim integer, keys text[], vals text[], floors bigint[], entries text[],
    channel text
) RETURNS TABLE (row_ts bigint, row_text text, row_key text) LANGUAGE plpgsql AS $$
DECLARE
    clock bigint;
    n integer := coalesce(array_length(entries, 1), 0);
BEGIN
    SELECT c.ts INTO clock FROM lb_clock c WHERE c.id = 1 FOR UPDATE;
    IF EXISTS (SELECT 1 FROM unnest(keys, vals) AS e(k, v)
               WHERE (SELECT g.value FROM lb_globals g WHERE g.key = e.k COLLATE "C")
                     IS DISTINCT FROM e.v) THEN
        RAISE EXCEPTION 'livebase: a global changed since the batch ran' USING ERRCODE = 'LB001';
    END IF;
    RETURN QUERY SELECT clock, NULL::text, NULL::text;
    RETURN QUERY SELECT c.ts, c.entry, NULL::text FROM lb_commits c
        WHERE c.ts > since ORDER BY c.ts LIMIT lim;
    RETURN QUERY SELECT NULL::bigint, g.value, g.key FROM lb_globals g WHERE g.key = ANY(keys);
    IF n > 0 THEN
        INSERT INTO lb_commits (ts, entry)
            SELECT t.i - 1 + greatest(clock + 1, t.m), t.e
            FROM unnest(floors, entries) WITH ORDINALITY AS t(m, e, i);
        UPDATE lb_clock SET ts = n - 1 + greatest(clock + 1, floors[n]) WHERE id = 1;
        PERFORM pg_notify(channel, '');
    END IF;
END $$;
"""
_EXPECTATION_FAILED = "LB001"
_COMMIT_AT_CLOCK = (
    "SELECT * FROM lb_commit_at_clock(%s, %s, %s::text[], %s::text[], %s::bigint[], %s::text[], %s)"
)


def running_floor(not_before: Sequence[int]) -> list[int]:
    """``m[i] = max(not_before[j] - j for j <= i)`` (see the module docstring)."""
    out: list[int] = []
    for i, ns in enumerate(not_before):
        out.append(ns - i if not out else max(out[-1], ns - i))
    return out


@dataclass(frozen=True)
class End:
    """How a write transaction ends at the clock: ``commit_at_clock``'s arguments, and how the
    backend parses the tail's rows (``read_tail``)."""

    read_tail: Callable[[list[tuple[Any, ...]], int], LogTail]
    channel: str
    entries: Sequence[tuple[int, str]]
    since_ts: int
    limit: int
    expect: Mapping[str, str | None]

    def queue(self, deferred: DeferredWrites) -> list[tuple[Any, ...]]:
        """Queue ``lb_commit_at_clock`` after what ``deferred`` holds, taking the clock there
        rather than at the transaction's start; the list its rows will be put in."""
        deferred.take_clock_last()
        keys = list(self.expect)
        floor = running_floor([ns for ns, _ in self.entries])
        values = [self.expect[k] for k in keys]
        texts = [entry for _, entry in self.entries]
        rows: list[tuple[Any, ...]] = []
        deferred.defer(
            _COMMIT_AT_CLOCK,
            (self.since_ts, self.limit, keys, values, floor, texts, self.channel),
            on_result=lambda c: rows.extend(c.fetchall()),
        )
        return rows

    def done(self, rows: list[tuple[Any, ...]]) -> ClockedCommit:
        """The commit, from ``lb_commit_at_clock``'s rows: the clock it took, then the tail."""
        assert rows and rows[0][1] is None and rows[0][2] is None, rows[:1]
        start = int(rows[0][0])
        not_before = [ns for ns, _ in self.entries]
        return ClockedCommit(
            start, self.read_tail(rows[1:], self.limit), clock_timestamps(start, not_before)
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
        assert sent is not None  # the clock's statement at least
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
