"""Idempotency records and their expiry.

A mutation called with an idempotency key stores its outcome as the global ``request:<key>``,
in its own transaction, so a resent call is answered from it. The record carries the time it
was stored (``{"at":<ns>,...}``, first in its text, so reading it needs no JSON parse). A record
older than ``LIVEBASE_IDEMPOTENCY_RETENTION_SECONDS`` answers nobody: a call resent after that
runs again, and its new record replaces the old one. A sweep walks the records in key order, a
bounded number a pass, and deletes the expired ones; a full cycle starts at most every eighth of
the retention (``SWEEP_EVERY``), so a record is gone by 1.125 times the retention and each is read
about eight times in its life, off the commit's path.

Records used to get a second global each, an age marker ``request-at:<stored at>:<key>`` whose
keys sort by age, so pruning read only what it deleted. The marker cost every keyed commit a
statement and, being inserted inside the ``globals`` tree, about two pages of the write-ahead
log (with ``fsync-per-commit``, 15-28 us of CPU a mutation on the 2-vCPU VM of
``docs/benchmarks.md``). Records stored with a marker, and records from before markers (dated
once by ``backfill``), still expire by their markers.
"""

from __future__ import annotations

import math

from livebase.storage.base import StorageWriter
from livebase.values.wire import dumps

RECORD_PREFIX = "request:"
SWEEP_EVERY = 1 / 8
"""A sweep cycle starts at most once in this fraction of the retention window."""
SWEEP_ROWS = 2_000
"""Records a sweep pass reads (and deletes, if expired) in one write transaction."""
_AT = '{"at":'
MARKER_PREFIX = "request-at:"
BACKFILLED_KEY = "request-at-backfilled"
"""Set once every record stored before markers existed has one."""


def marker_key(at_ns: int, record_key: str) -> str:
    return f"{MARKER_PREFIX}{at_ns:020d}:{record_key}"


def record_text(kept: str, ts: int, fingerprint: str | None, at_ns: int) -> str:
    """A record: ``kept``, the outcome already as JSON text, written in as it is; ``at_ns``,
    when it is stored, first."""
    return f'{_AT}{at_ns},"value":{kept},"ts":{ts},"fingerprint":{dumps(fingerprint)}}}'


def stored_at(record: str) -> int | None:
    """When a record was stored; None for one from before records carried their time (its
    age marker dates it)."""
    if not record.startswith(_AT):
        return None
    return int(record[len(_AT) : record.index(",", len(_AT))])


def expired(record: str, before_ns: int) -> bool:
    """Whether a record was stored before ``before_ns`` (then it answers nobody)."""
    at = stored_at(record)
    return at is not None and at < before_ns


def store(w: StorageWriter, record_key: str, record: str) -> None:
    """Write a record (in the caller's transaction)."""
    w.set_global(record_key, record)


def sweep(w: StorageWriter, after: str, before_ns: int, rows: int) -> tuple[int, str | None]:
    """Read up to ``rows`` records in key order after the key ``after`` and delete those stored
    before ``before_ns``: how many, and the key to go on after (None: this was the last)."""
    found = w.dump("globals", (after,), rows)
    deleted, last = 0, after
    for key, value in found:
        last = str(key)
        if not last.startswith(RECORD_PREFIX):
            return deleted, None
        if expired(str(value), before_ns):
            w.delete_global(last)
            deleted += 1
    return deleted, (last if len(found) == rows else None)


class Sweep:
    """Where the sweep stands: the key it goes on after (None between cycles), and when the
    cycle began."""

    def __init__(self) -> None:
        self.after: str | None = None
        self.began_ns = -math.inf

    def begin_or_continue(self, now_ns: int, retention_seconds: float) -> bool:
        """Whether a pass may run now: a cycle is under way, or the last one began at least
        ``SWEEP_EVERY`` of the retention ago, and then a new one begins here."""
        if self.after is None:
            if now_ns - self.began_ns < SWEEP_EVERY * retention_seconds * 1e9:
                return False
            self.began_ns, self.after = now_ns, RECORD_PREFIX
        return True

    def run(self, w: StorageWriter, before_ns: int, rows: int) -> tuple[int, bool]:
        """One pass (``sweep``) from where the last stopped: how many records it deleted, and
        whether the cycle is done."""
        assert self.after is not None, "a pass runs only in a cycle (begin_or_continue)"
        deleted, self.after = sweep(w, self.after, before_ns, rows)
        return deleted, self.after is None


def prune(w: StorageWriter, before_ns: int, limit: int) -> int:
    """Delete up to ``limit`` records dated by an age marker before ``before_ns``, oldest first
    (records stored with one, or dated by ``backfill``); how many."""
    taken = w.take_globals(MARKER_PREFIX, marker_key(before_ns, ""), limit)
    for _, record_key in taken:
        w.delete_global(record_key)
    return len(taken)


def skip_backfill_if_new(w: StorageWriter) -> None:
    """At open: a database without records has nothing to date (and every record it gets is
    dated), so ``backfill`` must never run on it and give records a second, later date."""
    if w.get_global(BACKFILLED_KEY) is None:
        first = w.dump("globals", (RECORD_PREFIX,), 1)
        if not (first and str(first[0][0]).startswith(RECORD_PREFIX)):
            w.set_global(BACKFILLED_KEY, "1")


def backfill(w: StorageWriter, now_ns: int, limit: int) -> bool:
    """Give up to ``limit`` records that have no marker one dated ``now_ns`` (records written
    before markers existed would otherwise be kept for ever); True once all have one."""
    if w.get_global(BACKFILLED_KEY) is not None:
        return True
    after = w.get_global(f"{BACKFILLED_KEY}-after") or RECORD_PREFIX
    rows = w.dump("globals", (after,), limit)
    records = [str(row[0]) for row in rows if str(row[0]).startswith(RECORD_PREFIX)]
    for record_key in records:
        w.set_global(marker_key(now_ns, record_key), record_key)
    if len(records) < len(rows) or len(rows) < limit:
        w.delete_global(f"{BACKFILLED_KEY}-after")
        w.set_global(BACKFILLED_KEY, "1")
        return True
    w.set_global(f"{BACKFILLED_KEY}-after", records[-1])
    return False


__all__ = [
    "MARKER_PREFIX",
    "RECORD_PREFIX",
    "SWEEP_EVERY",
    "SWEEP_ROWS",
    "Sweep",
    "backfill",
    "expired",
    "marker_key",
    "prune",
    "record_text",
    "skip_backfill_if_new",
    "store",
    "stored_at",
    "sweep",
]
