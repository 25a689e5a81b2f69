"""What a search read, for subscriptions: its index, whole terms, prefix and filter tokens.

A write can change a search's results only if the document before or after it is in that index,
holds one of the search's terms (or a term starting with its prefix) and has every filter value
the search asks for. Corpus statistics (document counts, average length) also move the BM25
scores of other documents, but a write that matches none of the terms does not re-run the
search, as in Convex: its results are the same documents, possibly in a slightly different order
when it next runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from livebase.search.entries import entry_for


@dataclass(frozen=True)
class SearchRead:
    index_id: int
    terms: frozenset[str]
    prefix: str | None
    filters: frozenset[str]

    def matches(self, terms: Iterable[str], filters: Iterable[str]) -> bool:
        if not self.filters <= set(filters):
            return False
        prefix = self.prefix
        for term in terms:
            if term in self.terms or (prefix is not None and term.startswith(prefix)):
                return True
        return False


def document_matches(
    read: SearchRead,
    search_field: str,
    filter_fields: Sequence[str],
    doc: dict[str, Any] | None,
) -> bool:
    entry = entry_for(search_field, filter_fields, doc)
    return entry is not None and read.matches(entry.terms, entry.filters)
