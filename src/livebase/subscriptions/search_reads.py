"""Which subscriptions does a write touch through a full-text search? An index over searches.

Each ``SearchRead`` is filed under (search index id, term) for its whole terms and (search index
id, prefix) for its prefix. For a written document (before and after the write), each distinct
term of its search field finds the searches holding it, and each of the term's prefixes the
searches ending in that prefix: a few dict lookups per term, whatever the number of
subscriptions. A candidate is touched if the document also has every filter value it asks for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable

from livebase.engine.catalog import Catalog
from livebase.engine.transaction import Write
from livebase.search.entries import entry_for
from livebase.search.reads import SearchRead

_Slot = tuple[int, str]


class SearchReadIndex:
    def __init__(self) -> None:
        self._terms: dict[_Slot, dict[Hashable, list[SearchRead]]] = {}
        self._prefixes: dict[_Slot, dict[Hashable, list[SearchRead]]] = {}
        self._owned: dict[Hashable, list[tuple[bool, _Slot]]] = {}
        self._readers: Counter[int] = Counter()

    def add(self, owner: Hashable, reads: Iterable[SearchRead]) -> None:
        for read in reads:
            places = self._owned.setdefault(owner, [])
            slots = [(False, (read.index_id, t)) for t in read.terms]
            if read.prefix is not None:
                slots.append((True, (read.index_id, read.prefix)))
            for is_prefix, slot in slots:
                table = self._prefixes if is_prefix else self._terms
                table.setdefault(slot, {}).setdefault(owner, []).append(read)
                places.append((is_prefix, slot))
                self._readers[read.index_id] += 1

    def remove(self, owner: Hashable) -> None:
        for is_prefix, slot in self._owned.pop(owner, ()):
            table = self._prefixes if is_prefix else self._terms
            owners = table.get(slot)
            if owners is not None:
                owners.pop(owner, None)
                if not owners:
                    del table[slot]
            self._readers[slot[0]] -= 1
            if self._readers[slot[0]] <= 0:
                del self._readers[slot[0]]

    def touched_by_write(self, catalog: Catalog, write: Write, into: set[Hashable]) -> None:
        if not self._readers:
            return
        info = catalog.tables.get(write.table)
        if info is None:
            return
        for index in info.search_indexes.values():
            if index.index_id not in self._readers:
                continue
            for doc in (write.previous, write.document):
                entry = entry_for(index.search_field, index.filter_fields, doc)
                if entry is None:
                    continue
                filters = set(entry.filters)
                for term in set(entry.terms):
                    candidates = [self._terms.get((index.index_id, term))]
                    candidates.extend(
                        self._prefixes.get((index.index_id, term[:end]))
                        for end in range(1, len(term) + 1)
                    )
                    for owners in candidates:
                        if not owners:
                            continue
                        for owner, reads in owners.items():
                            if owner not in into and any(r.filters <= filters for r in reads):
                                into.add(owner)

    def __len__(self) -> int:
        return len(self._owned)
