"""``q`` in ``with_search_index(name, lambda q: q.search(field, text).eq(field, value))``."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from livebase.errors import InvalidQueryError
from livebase.search.entries import filter_token
from livebase.search.tokenizer import MAX_FILTERS_PER_QUERY, query_terms
from livebase.values.types import Int64


class SearchFilter:
    """``search`` once, first, on the index's search field; then up to 8 ``eq`` on its filter
    fields (each at most once)."""

    def __init__(
        self,
        index_name: str,
        search_field: str,
        filter_fields: tuple[str, ...],
        int64_fields: Collection[str] = (),
    ) -> None:
        self._index = index_name
        self._search_field = search_field
        self._filter_fields = filter_fields
        self._int64_fields = int64_fields
        self.terms: list[str] | None = None
        self.eqs: dict[str, Any] = {}

    def search(self, field: str, text: str) -> SearchFilter:
        if self.terms is not None:
            raise InvalidQueryError(f"search index {self._index!r}: q.search() called twice")
        if field != self._search_field:
            raise InvalidQueryError(
                f"search index {self._index!r} searches {self._search_field!r}, not {field!r}"
            )
        self.terms = query_terms(text)
        return self

    def eq(self, field: str, value: Any) -> SearchFilter:
        if self.terms is None:
            raise InvalidQueryError(
                f"search index {self._index!r}: call q.search({self._search_field!r}, text) "
                "before q.eq()"
            )
        if field not in self._filter_fields:
            known = ", ".join(repr(f) for f in self._filter_fields) or "none"
            raise InvalidQueryError(
                f"search index {self._index!r} cannot filter on {field!r}; its filter fields "
                f"are {known}"
            )
        if field in self.eqs:
            raise InvalidQueryError(f"search index {self._index!r}: two q.eq() on {field!r}")
        if len(self.eqs) >= MAX_FILTERS_PER_QUERY:
            raise InvalidQueryError(
                f"a search takes at most {MAX_FILTERS_PER_QUERY} q.eq() filters"
            )
        if field in self._int64_fields and (
            type(value) is int or (type(value) is float and value.is_integer())
        ):
            value = Int64(value)
        self.eqs[field] = value
        return self

    def filter_tokens(self) -> tuple[str, ...]:
        return tuple(
            sorted(filter_token(self._filter_fields.index(f), v) for f, v in self.eqs.items())
        )

    def split_terms(self) -> tuple[tuple[str, ...], str | None]:
        """Whole terms (distinct, in order) and the prefix (the last term)."""
        if not self.terms:
            return (), None
        whole = tuple(dict.fromkeys(self.terms[:-1]))
        return whole, self.terms[-1]
