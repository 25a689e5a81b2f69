"""Idempotency records and their expiry.

A mutation called with an idempotency key stores its outcome as the global ``request:<key>``,
in its own transaction, so a resent call is answered from it. Each record also gets a marker,
``request-at:<stored at, ns, 20 digits>:<record key>``, whose keys sort by age: pruning takes the
oldest markers by key range and deletes their records, so it costs what it deletes, however
many records are kept. A record older than ``LIVEBASE_IDEMPOTENCY_RETENTION_SECONDS`` is gone,
and a call resent after that runs again.
"""

from __future__ import annotations

from livebase.storage.base import StorageWriter

RECORD_PREFIX = "request:"
MARKER_PREFIX = "request-at:"
BACKFILLED_KEY = "request-at-backfilled"
"""Set once every record stored before markers existed has one."""


def marker_key(at_ns: int, record_key: str) -> str:
    return f"{MARKER_PREFIX}{at_ns:020d}:{record_key}"


def store(w: StorageWriter, record_key: str, record: str, at_ns: int) -> None:
    """Write a record and its age marker (in the caller's transaction)."""
    w.set_global(record_key, record)
    w.set_global(marker_key(at_ns, record_key), record_key)


def prune(w: StorageWriter, before_ns: int, limit: int) -> int:
    """Delete up to ``limit`` records stored before ``before_ns``, oldest first; how many."""
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
    "backfill",
    "marker_key",
    "prune",
    "skip_backfill_if_new",
    "store",
]
