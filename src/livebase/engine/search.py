"""``ctx.db.query(t).with_search_index(name, lambda q: q.search(...).eq(...))``: a search query.

Results come best first (BM25, ties to the newest document), at most ``MAX_RESULTS`` per call;
``.filter`` still applies to them (a scan of the results, like any filter). The search reads
the storage snapshot of the call's transaction, so a mutation finds its own writes, and records
a ``SearchRead`` in the read set so a subscription re-runs on a write that could change it.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable, Iterator
from typing import Any

from livebase.engine.catalog import SearchIndexInfo
from livebase.engine.filters import FilterRow
from livebase.engine.transaction import Document, Transaction, decode_document
from livebase.errors import InvalidCursorError, InvalidQueryError
from livebase.search.builder import SearchFilter
from livebase.search.entries import field_value
from livebase.search.reads import SearchRead
from livebase.search.tokenizer import MAX_RESULTS
from livebase.storage.search_types import SearchRequest
from livebase.values.ordering import compare_values
from livebase.values.validators import is_int64_field

Position = tuple[float, float, str]
"""Where a result ranks: (score, creation time, id); later results have smaller ones."""


def search_index_of(tx: Transaction, table: str, name: str) -> tuple[str, tuple[str, ...]]:
    """The search field and filter fields of ``table``'s search index ``name``, or a clear
    error naming the table's search indexes."""
    info = tx.table_info(table)
    if info is not None and name in info.search_indexes:
        s = info.search_indexes[name]
        return s.search_field, s.filter_fields
    definition = tx.schema.tables.get(table)
    if definition is not None and name in definition.search_indexes:
        d = definition.search_indexes[name]
        return d.search_field, d.filter_fields
    known = set(info.search_indexes) if info is not None else set()
    if definition is not None:
        known |= set(definition.search_indexes)
    listed = ", ".join(sorted(known)) if known else "none (define one with .search_index())"
    raise InvalidQueryError(
        f"table {table!r} has no search index {name!r}; its search indexes are {listed}"
    )


class SearchQuery:
    def __init__(self, tx: Transaction, table: str, name: str, spec: SearchFilter) -> None:
        self._tx = tx
        self._table = table
        self._name = name
        self._spec = spec
        self._filters: list[Callable[[FilterRow], Any]] = []

    def filter(self, predicate: Callable[[FilterRow], Any]) -> SearchQuery:
        self._filters.append(predicate)
        return self

    def order(self, direction: str) -> SearchQuery:
        raise InvalidQueryError(
            "a search query's results are always in relevance order; .order() does not apply"
        )

    # -- running ---------------------------------------------------------------------------

    def _index(self) -> SearchIndexInfo | None:
        info = self._tx.table_info(self._table)
        if info is None:
            self._tx.read_set.tables_absent.add(self._table)
            return None
        return info.search_indexes.get(self._name)

    def _hits(self, limit: int, after: Position | None = None) -> list[tuple[Position, Document]]:
        tx = self._tx
        tx.check_deadline()
        index = self._index()
        if index is None:
            return []
        whole, prefix = self._spec.split_terms()
        filters = self._spec.filter_tokens()
        tx.read_set.searches.append(
            SearchRead(index.index_id, frozenset(whole), prefix, frozenset(filters))
        )
        if prefix is None:
            return []
        request = SearchRequest(whole, prefix, filters, limit, after)
        out = []
        for hit in tx.store.search(index.index_id, request):
            tx.count_read(hit.document)
            doc = decode_document(hit.document)
            if all(
                compare_values(field_value(doc, f), v) == 0 for f, v in self._spec.eqs.items()
            ):
                out.append(((hit.score, hit.creation_time, hit.doc_id), doc))
        return out

    def _matches(self, doc: Document) -> bool:
        row = FilterRow(doc)
        return all(f(row) for f in self._filters)

    def _results(self, want: int) -> list[tuple[Position, Document]]:
        limit = MAX_RESULTS if self._filters else want
        return [(p, d) for p, d in self._hits(limit) if self._matches(d)]

    def take(self, n: int) -> list[Document]:
        n = int(n)
        if n < 0:
            raise InvalidQueryError(f"take({n}): n must not be negative")
        if n > MAX_RESULTS:
            raise InvalidQueryError(
                f"take({n}): a search returns at most {MAX_RESULTS} results; paginate for more"
            )
        if n == 0:
            return []
        return [d for _, d in self._results(n)[:n]]

    def first(self) -> Document | None:
        docs = self.take(1)
        return docs[0] if docs else None

    def unique(self) -> Document | None:
        docs = self.take(2)
        if len(docs) > 1:
            raise InvalidQueryError(
                f"unique() on a search of {self._table!r} found more than one document: "
                f"{docs[0]['_id']}, {docs[1]['_id']}"
            )
        return docs[0] if docs else None

    def collect(self) -> list[Document]:
        hits = self._hits(MAX_RESULTS + 1)
        if len(hits) > MAX_RESULTS:
            raise InvalidQueryError(
                f"this search matches more than {MAX_RESULTS} documents, more than collect() "
                f"returns; use take(n) or paginate()"
            )
        return [d for _, d in hits if self._matches(d)]

    def __iter__(self) -> Iterator[Document]:
        return iter([d for _, d in self._results(MAX_RESULTS)])

    # -- pagination ------------------------------------------------------------------------

    def _fingerprint(self) -> bytes:
        whole, prefix = self._spec.split_terms()
        text = "|".join(
            [self._table, self._name, *whole, str(prefix), *self._spec.filter_tokens()]
        )
        return hashlib.sha256(b"search|" + text.encode()).digest()[:6]

    def _cursor(self, position: Position | None) -> str:
        body = self._fingerprint()
        if position is None:
            body += b"E"
        else:
            score, ct, doc_id = position
            body += b"S" + struct.pack(">dd", score, ct) + doc_id.encode()
        return base64.urlsafe_b64encode(body).decode("ascii")

    def _parse_cursor(self, cursor: str) -> Position | bool | None:
        """The position a cursor points after; None for the end; True for the start."""
        try:
            raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise InvalidCursorError(f"InvalidCursor: {cursor!r} is not a cursor") from None
        if raw[:6] != self._fingerprint() or raw[6:7] not in (b"E", b"S", b"B"):
            raise InvalidCursorError(
                "InvalidCursor: the cursor belongs to a different query (table, index, search "
                "terms or filters changed)"
            )
        if raw[6:7] == b"E":
            return None
        if raw[6:7] == b"B":
            return True
        score, ct = struct.unpack(">dd", raw[7:23])
        return float(score), float(ct), raw[23:].decode()

    def paginate(self, options: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(options, dict) or "numItems" not in options:
            raise InvalidQueryError("paginate() needs {'numItems': n, 'cursor': str | None}")
        num_items = options["numItems"]
        if isinstance(num_items, bool) or not isinstance(num_items, (int, float)):
            raise InvalidQueryError("paginationOpts.numItems must be a number")
        limit = min(max(int(num_items), 0), MAX_RESULTS)
        tx = self._tx
        first_page = tx.page_end is None
        if first_page and tx.page_journal is not None and options.get("endCursor") is None:
            options = {**options, "endCursor": tx.page_journal}
        result = self._paginate(options, limit)
        if first_page:
            tx.page_end = result["continueCursor"]
        return result

    def _paginate(self, options: dict[str, Any], limit: int) -> dict[str, Any]:
        after: Position | None = None
        cursor = options.get("cursor")
        if cursor is not None:
            if not isinstance(cursor, str):
                raise InvalidCursorError("InvalidCursor: paginationOpts.cursor must be a string")
            parsed = self._parse_cursor(cursor)
            if parsed is None:
                return _page([], True, self._cursor(None))
            if parsed is not True:
                assert not isinstance(parsed, bool)
                after = parsed
        end_cursor = options.get("endCursor")
        if end_cursor is not None:
            end = self._parse_cursor(str(end_cursor))
            hits = self._hits(MAX_RESULTS, after)
            if isinstance(end, tuple):
                hits = [(p, d) for p, d in hits if not _ranks_after(p, end)]
            elif end is True:
                hits = []
            page = [d for _, d in hits if self._matches(d)]
            return _page(page, end is None, str(end_cursor))
        if limit == 0:
            start = cursor if isinstance(cursor, str) else self._start_cursor()
            return _page([], False, start)
        hits = self._hits(limit + 1, after)
        done = len(hits) <= limit
        hits = hits[:limit]
        page = [d for _, d in hits if self._matches(d)]
        if done:
            return _page(page, True, self._cursor(None))
        return _page(page, False, self._cursor(hits[-1][0]))

    def _start_cursor(self) -> str:
        return base64.urlsafe_b64encode(self._fingerprint() + b"B").decode("ascii")


def _ranks_after(p: Position, q: Position) -> bool:
    """Whether result position ``p`` comes after ``q`` (lower score, then older, then lower
    id)."""
    return (p[0], p[1], p[2]) < (q[0], q[1], q[2])


def _page(page: list[Document], done: bool, cursor: str) -> dict[str, Any]:
    return {
        "page": page,
        "isDone": done,
        "continueCursor": cursor,
        "splitCursor": None,
        "pageStatus": None,
    }


def search_query(
    tx: Transaction, table: str, name: str, build: Callable[[SearchFilter], SearchFilter]
) -> SearchQuery:
    search_field, filter_fields = search_index_of(tx, table, name)
    definition = tx.schema.tables.get(table)
    int64 = (
        frozenset(f for f in filter_fields if is_int64_field(definition.document, f))
        if definition is not None and definition.document is not None
        else frozenset()
    )
    spec = SearchFilter(name, search_field, filter_fields, int64)
    built = build(spec)
    if built is not spec:
        raise InvalidQueryError(
            f"the function given to with_search_index({name!r}) must return the search "
            "builder (q.search(...).eq(...))"
        )
    if spec.terms is None:
        raise InvalidQueryError(
            f"with_search_index({name!r}) needs q.search({search_field!r}, text)"
        )
    return SearchQuery(tx, table, name, spec)
