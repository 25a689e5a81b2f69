"""Which subscriptions does a written index key touch? An index over read intervals.

Each interval carries a bucket: the ``eq`` prefix every key in it starts with (see
``engine.reads.Interval``). Intervals are filed under (index id, bucket). For a written key, the
candidate buckets are its value prefixes (a handful: one per indexed field), so finding the
affected subscriptions costs a few dict lookups plus a range check on the intervals in those
buckets, whatever the number of subscriptions. Intervals without an ``eq`` prefix (bucket ``b""``,
e.g. a scan of a whole table) are checked for every key of their index.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable

from livebase.engine.reads import Interval
from livebase.values.ordering import value_boundaries


class IntervalIndex:
    def __init__(self) -> None:
        # index id -> bucket -> owner -> intervals
        self._buckets: dict[int, dict[bytes, dict[Hashable, list[Interval]]]] = defaultdict(dict)
        self._owned: dict[Hashable, list[tuple[int, bytes]]] = {}
        self._tables: dict[str, set[Hashable]] = defaultdict(set)

    def add(
        self, owner: Hashable, intervals: Iterable[Interval], absent_tables: Iterable[str]
    ) -> None:
        places = self._owned.setdefault(owner, [])
        for interval in intervals:
            buckets = self._buckets[interval.index_id]
            owners = buckets.setdefault(interval.bucket, {})
            if owner not in owners:
                owners[owner] = []
                places.append((interval.index_id, interval.bucket))
            owners[owner].append(interval)
        for table in absent_tables:
            self._tables[table].add(owner)
            places.append((-1, table.encode()))

    def remove(self, owner: Hashable) -> None:
        for index_id, bucket in self._owned.pop(owner, ()):
            if index_id == -1:
                self._tables[bucket.decode()].discard(owner)
                continue
            owners = self._buckets[index_id].get(bucket)
            if owners is not None:
                owners.pop(owner, None)
                if not owners:
                    del self._buckets[index_id][bucket]

    def touched_by_key(self, index_id: int, key: bytes, into: set[Hashable]) -> None:
        buckets = self._buckets.get(index_id)
        if not buckets:
            return
        candidates = [b""]
        candidates.extend(key[:end] for end in value_boundaries(key))
        for bucket in candidates:
            owners = buckets.get(bucket)
            if not owners:
                continue
            for owner, intervals in owners.items():
                if owner not in into and any(i.lo <= key < i.hi for i in intervals):
                    into.add(owner)

    def touched_by_table(self, table: str, into: set[Hashable]) -> None:
        into.update(self._tables.get(table, ()))

    def __len__(self) -> int:
        return len(self._owned)
