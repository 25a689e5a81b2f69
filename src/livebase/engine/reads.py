"""Read sets: the index key ranges a transaction observed, for subscriptions and conflict checks.

A ``db.get`` is a point range on ``by_id``; a query is the range of its index that it actually
scanned (a ``take(20)`` covers 20 keys, not the table). A commit's write touches some keys;
"does this commit affect that read" is then an interval-overlap test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livebase.search.reads import SearchRead


@dataclass(frozen=True)
class Interval:
    index_id: int
    lo: bytes  # inclusive
    hi: bytes  # exclusive
    bucket: bytes = b""
    """A prefix, ending on a value boundary, that every key in the interval starts with (the
    query's ``eq`` values); lets a commit find the reads it touches by a few dict lookups."""

    def contains(self, index_id: int, key: bytes) -> bool:
        return index_id == self.index_id and self.lo <= key < self.hi


@dataclass
class ReadSet:
    intervals: list[Interval] = field(default_factory=list)
    tables_absent: set[str] = field(default_factory=set)
    """Tables read before they existed; creating one must count as a change."""
    searches: list[SearchRead] = field(default_factory=list)
    """Full-text searches (``livebase.search.reads``)."""

    def add(self, index_id: int, lo: bytes, hi: bytes, bucket: bytes = b"") -> None:
        if lo < hi:
            self.intervals.append(Interval(index_id, lo, hi, bucket))

    def overlaps(self, index_id: int, key: bytes) -> bool:
        return any(i.contains(index_id, key) for i in self.intervals)

    def __len__(self) -> int:
        return len(self.intervals)
