"""``ctx.db.query(table)``: index ranges, filters, order, take/first/unique/collect, pagination.

Rows stream from storage in small batches, so ``take(20)`` over a million documents reads 20 rows,
and the read set records only the key range actually scanned.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from livebase.engine.catalog import BY_CREATION_TIME, BY_ID, IndexInfo
from livebase.engine.filters import FilterRow
from livebase.engine.live_range import CollectedList, LiveRange
from livebase.engine.transaction import Document, Transaction, decode_document
from livebase.errors import InvalidCursorError, InvalidQueryError
from livebase.values.ordering import encode_key, prefix_successor
from livebase.values.types import Int64
from livebase.values.validators import is_int64_field

if TYPE_CHECKING:
    from livebase.engine.search import SearchQuery
    from livebase.search.builder import SearchFilter

_BATCH = 64
_MAX_BATCH = 1024
_KEY_MAX = b"\xff\xff"


def _keep_text(text: str) -> str:
    return text


class IndexRange:
    """Built by the lambda given to ``with_index``: ``eq``s on leading fields, then one lower
    bound (``gt``/``gte``) and one upper bound (``lt``/``lte``) on the next field."""

    def __init__(
        self, index_name: str, fields: tuple[str, ...], int64_fields: frozenset[str] = frozenset()
    ) -> None:
        self._index = index_name
        self._fields = fields
        self._int64_fields = int64_fields
        self._prefix: list[Any] = []
        self._range_field: str | None = None
        self._lower: tuple[Any, bool] | None = None  # (value, inclusive)
        self._upper: tuple[Any, bool] | None = None

    def _next_field(self, name: str, op: str) -> None:
        position = len(self._prefix)
        if self._range_field is not None:
            if op == "eq" or name != self._range_field:
                raise InvalidQueryError(
                    f"index {self._index!r}: {op}({name!r}) after a range on "
                    f"{self._range_field!r}; ranges must come last"
                )
            return
        if position >= len(self._fields) or self._fields[position] != name:
            expected = self._fields[position] if position < len(self._fields) else "nothing"
            raise InvalidQueryError(
                f"index {self._index!r} on {list(self._fields)}: {op}({name!r}) is out of order; "
                f"the next field must be {expected!r}"
            )

    def _typed(self, field: str, value: Any) -> Any:
        """A plain ``int`` compared with a field the schema declares ``v.int64()`` means that
        int64 (``q.eq("count", 5)`` finds ``Int64(5)``), as the field's own writes do."""
        if field in self._int64_fields and (
            type(value) is int or (type(value) is float and value.is_integer())
        ):
            return Int64(value)
        return value

    def eq(self, field: str, value: Any) -> IndexRange:
        self._next_field(field, "eq")
        self._prefix.append(self._typed(field, value))
        return self

    def _bound(self, field: str, value: Any, op: str, lower: bool, inclusive: bool) -> IndexRange:
        self._next_field(field, op)
        self._range_field = field
        slot = "_lower" if lower else "_upper"
        if getattr(self, slot) is not None:
            raise InvalidQueryError(
                f"index {self._index!r}: two {'lower' if lower else 'upper'} bounds on {field!r}"
            )
        setattr(self, slot, (self._typed(field, value), inclusive))
        return self

    def gt(self, field: str, value: Any) -> IndexRange:
        return self._bound(field, value, "gt", True, False)

    def gte(self, field: str, value: Any) -> IndexRange:
        return self._bound(field, value, "gte", True, True)

    def lt(self, field: str, value: Any) -> IndexRange:
        return self._bound(field, value, "lt", False, False)

    def lte(self, field: str, value: Any) -> IndexRange:
        return self._bound(field, value, "lte", False, True)

    def prefix(self) -> bytes:
        """The encoded ``eq`` values: every key in the range starts with them."""
        return encode_key(self._prefix)

    def bounds(self) -> tuple[bytes, bytes]:
        prefix = encode_key(self._prefix)
        lo, hi = prefix, prefix_successor(prefix) if self._prefix else _KEY_MAX
        if self._lower is not None:
            value, inclusive = self._lower
            key = prefix + encode_key((value,))
            lo = key if inclusive else prefix_successor(key)
        if self._upper is not None:
            value, inclusive = self._upper
            key = prefix + encode_key((value,))
            hi = prefix_successor(key) if inclusive else key
        return lo, hi


class Query:
    def __init__(self, tx: Transaction, table: str) -> None:
        self._tx = tx
        self._table = table
        self._index_name = BY_CREATION_TIME
        self._range: IndexRange | None = None
        self._filters: list[Callable[[FilterRow], Any]] = []
        self._desc = False

    # -- building --------------------------------------------------------------------------------

    def with_index(
        self, name: str, build: Callable[[IndexRange], IndexRange] | None = None
    ) -> Query:
        fields = self._index_fields(name)
        rng = IndexRange(name, fields, self._declared_int64(fields))
        if build is not None:
            built = build(rng)
            if not isinstance(built, IndexRange):
                raise InvalidQueryError(
                    f"the function given to with_index({name!r}) must return the range "
                    "builder (q.eq(...)...)"
                )
        self._index_name, self._range = name, rng
        return self

    def with_search_index(
        self, name: str, build: Callable[[SearchFilter], SearchFilter]
    ) -> SearchQuery:
        """A full-text search on search index ``name``: ``lambda q: q.search(field, text)``,
        then ``.eq(filter_field, value)``s; results in relevance order (see ``engine.search``)."""
        from livebase.engine.search import search_query

        if self._range is not None or self._filters or self._desc:
            raise InvalidQueryError(
                f"with_search_index({name!r}) must come right after ctx.db.query("
                f"{self._table!r}), before any with_index, filter or order"
            )
        return search_query(self._tx, self._table, name, build)

    def with_vector_index(
        self,
        name: str,
        *,
        vector: Any,
        limit: Any = None,
        filter: Any = None,
    ) -> list[Document]:
        """Beyond Convex: a vector search in a query, the ``limit`` nearest documents best
        first, each with its ``_score`` (see ``engine.vector_search``); reactive."""
        from livebase.engine.vector_search import vector_hits

        if self._range is not None or self._filters or self._desc:
            raise InvalidQueryError(
                f"with_vector_index({name!r}) must come right after ctx.db.query("
                f"{self._table!r})"
            )
        hits = vector_hits(self._tx, self._table, name, vector, limit, filter)
        return [{**doc, "_score": s} for s, doc in hits]

    def filter(self, predicate: Callable[[FilterRow], Any]) -> Query:
        """Keep the rows for which ``predicate(row)`` is true: ``row`` is the document (a dict),
        which also has Convex's filter builder (``q.eq(q.field("x"), 1)``; see ``filters.py``)."""
        self._filters.append(predicate)
        return self

    def order(self, direction: str) -> Query:
        if direction not in ("asc", "desc"):
            raise InvalidQueryError(f"order must be 'asc' or 'desc', got {direction!r}")
        self._desc = direction == "desc"
        return self

    def _declared_int64(self, fields: tuple[str, ...]) -> frozenset[str]:
        definition = self._tx.schema.tables.get(self._table)
        if definition is None or definition.document is None:
            return frozenset()
        return frozenset(f for f in fields if is_int64_field(definition.document, f))

    def _index_fields(self, name: str) -> tuple[str, ...]:
        if name == BY_CREATION_TIME:
            return ("_creationTime",)
        if name == BY_ID:
            return ("_id",)
        definition = self._tx.schema.tables.get(self._table)
        info = self._tx.table_info(self._table)
        if info is not None and name in info.indexes:
            return info.indexes[name].fields
        if definition is not None and name in definition.indexes:
            return definition.indexes[name]
        known = sorted(set(info.indexes) if info else {BY_ID, BY_CREATION_TIME})
        raise InvalidQueryError(
            f"table {self._table!r} has no index {name!r}; its indexes are {', '.join(known)}"
        )

    def _index(self) -> IndexInfo | None:
        info = self._tx.table_info(self._table)
        return None if info is None else info.indexes.get(self._index_name)

    def _bounds(self) -> tuple[bytes, bytes]:
        if self._range is None:
            return b"", _KEY_MAX
        return self._range.bounds()

    # -- scanning --------------------------------------------------------------------------------

    def _rows(
        self,
        lo: bytes,
        hi: bytes,
        want: int | None = None,
        decode: Callable[[str], Any] = decode_document,
    ) -> Iterator[tuple[bytes, Document]]:
        """Stream (key, document) pairs in order; records what it scanned in the read set.
        ``decode``: the stored text to what is yielded (vector search keeps the text)."""
        index = self._index()
        if index is None:
            self._tx.read_set.tables_absent.add(self._table)
            return
        tx = self._tx
        bucket = self._range.prefix() if self._range is not None else b""
        # With a known count (take(n) without filters) fetch exactly that, so the read set
        # covers only the rows returned; otherwise grow the batch as the scan goes on.
        batch = min(want, _MAX_BATCH) if want else _BATCH
        while lo < hi:
            tx.check_deadline()
            rows = tx.store.scan_index(index.index_id, lo, hi, reverse=self._desc, limit=batch)
            if len(rows) < batch:
                tx.read_set.add(index.index_id, lo, hi, bucket)
            elif self._desc:
                tx.read_set.add(index.index_id, rows[-1].key, hi, bucket)
            else:
                tx.read_set.add(index.index_id, lo, rows[-1].key + b"\x00", bucket)
            for row in rows:
                tx.count_read(row.document)
                yield row.key, decode(row.document)
            if len(rows) < batch:
                return
            if self._desc:
                hi = rows[-1].key
            else:
                lo = rows[-1].key + b"\x00"
            if want:
                want -= len(rows)
                if want <= 0:
                    return
                batch = min(want, _MAX_BATCH)
            else:
                batch = min(batch * 2, _MAX_BATCH)

    def _matches(self, doc: Document) -> bool:
        row = FilterRow(doc)  # the document, which also speaks Convex's filter builder
        return all(f(row) for f in self._filters)

    def _iter(self, want: int | None = None) -> Iterator[Document]:
        lo, hi = self._bounds()
        wanted = want if not self._filters else None
        for _, doc in self._rows(lo, hi, wanted):
            if self._matches(doc):
                yield doc

    def __iter__(self) -> Iterator[Document]:
        return self._iter()

    def take(self, n: int) -> list[Document]:
        return self._take(n, live=True)

    def _take(self, n: int, *, live: bool = False) -> list[Document]:
        n = int(n)
        if n < 0:
            raise InvalidQueryError(f"take({n}): n must not be negative")
        if n == 0:
            return []
        if live and self._tx.collected is not None and not self._filters:
            return self._collect_live(n)
        out = []
        for doc in self._iter(n):
            out.append(doc)
            if len(out) >= n:
                break
        return out

    def first(self) -> Document | None:
        docs = self._take(1)
        return docs[0] if docs else None

    def unique(self) -> Document | None:
        docs = self._take(2)
        if len(docs) > 1:
            raise InvalidQueryError(
                f"unique() on {self._table!r} found more than one document: "
                f"{docs[0]['_id']}, {docs[1]['_id']}"
            )
        return docs[0] if docs else None

    def collect(self) -> list[Document]:
        if self._tx.collected is None or self._filters:
            return list(self._iter())
        return self._collect_live()

    def _collect_live(self, limit: int | None = None) -> list[Document]:
        """``collect()`` or ``take(limit)`` in a call that records its ranges (a live
        subscription's run): the range's keys and stored texts are kept, so the subscription
        can apply later commits to the result instead of running the call again
        (``engine.live_range``)."""
        tx = self._tx
        reads_before, intervals_before = tx.documents_scanned, len(tx.read_set.intervals)
        lo, hi = self._bounds()
        keys: list[bytes] = []
        texts: list[str] = []
        docs: list[Document] = []
        for key, text in self._rows(lo, hi, limit, _keep_text):
            if limit is not None and len(keys) >= limit:
                break
            keys.append(key)
            texts.append(text)  # type: ignore[arg-type]  # _keep_text gives the stored text
            docs.append(decode_document(text))  # type: ignore[arg-type]
        returned = CollectedList(docs)
        index = self._index()
        if index is not None and tx.collected is not None:
            if self._desc:  # kept in ascending key order
                keys.reverse()
                texts.reverse()
                docs.reverse()
            read = LiveRange(index.index_id, lo, hi, self._desc, keys, texts, docs, returned)
            read.limit = limit
            read.complete = limit is None or len(keys) < limit
            read.intervals = len(tx.read_set.intervals) - intervals_before
            read.reads_before, read.ts = reads_before, tx.snapshot_ts
            tx.collected.append(read)
        return returned

    # -- pagination ------------------------------------------------------------------------------

    def _fingerprint(self) -> bytes:
        lo, hi = self._bounds()
        text = f"{self._table}|{self._index_name}|{self._desc}|".encode() + lo + b"|" + hi
        return hashlib.sha256(text).digest()[:6]

    def _cursor(self, key: bytes | None) -> str:
        body = self._fingerprint() + (b"E" if key is None else b"K" + key)
        return base64.urlsafe_b64encode(body).decode("ascii")

    def _parse_cursor(self, cursor: str) -> bytes | None:
        """The key a cursor points after; ``None`` for the end cursor."""
        try:
            raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise InvalidCursorError(f"InvalidCursor: {cursor!r} is not a cursor") from None
        if raw[:6] != self._fingerprint() or raw[6:7] not in (b"E", b"K"):
            raise InvalidCursorError(
                "InvalidCursor: the cursor belongs to a different query (table, index, range "
                "or order changed)"
            )
        return None if raw[6:7] == b"E" else raw[7:]

    def paginate(self, options: dict[str, Any]) -> dict[str, Any]:
        """``{numItems, cursor, endCursor?, maximumRowsRead?}`` -> ``{page, isDone,
        continueCursor, splitCursor, pageStatus}``. With ``endCursor`` the page covers exactly up
        to that cursor, however many items that is (how reactive pages stay gapless)."""
        if not isinstance(options, dict) or "numItems" not in options:
            raise InvalidQueryError("paginate() needs {'numItems': n, 'cursor': str | None}")
        num_items = options["numItems"]
        if isinstance(num_items, bool) or not isinstance(num_items, (int, float)):
            raise InvalidQueryError("paginationOpts.numItems must be a number")
        limit = max(int(num_items), 0)
        max_rows = options.get("maximumRowsRead")
        first_page = self._tx.page_end is None
        if first_page and self._tx.page_journal is not None and options.get("endCursor") is None:
            options = {**options, "endCursor": self._tx.page_journal}
        result = self._paginate(options, limit, max_rows)
        if first_page:
            self._tx.page_end = result["continueCursor"]
        return result

    def _paginate(self, options: dict[str, Any], limit: int, max_rows: Any) -> dict[str, Any]:
        lo, hi = self._bounds()
        cursor = options.get("cursor")
        if cursor is not None:
            if not isinstance(cursor, str):
                raise InvalidCursorError("InvalidCursor: paginationOpts.cursor must be a string")
            after = self._parse_cursor(cursor)
            if after is None:
                return self._page([], True, self._cursor(None))
            if after == b"":
                pass  # the start cursor: nothing read yet
            elif self._desc:
                hi = min(hi, after)
            else:
                lo = max(lo, after + b"\x00")
        end_cursor = options.get("endCursor")
        end_key: bytes | None = None
        if end_cursor is not None:
            end_key = self._parse_cursor(str(end_cursor))
            if end_key is not None:
                if self._desc:
                    lo = max(lo, end_key)
                else:
                    hi = min(hi, end_key + b"\x00")
        page: list[Document] = []
        last_key: bytes | None = None
        scanned = 0
        exhausted = True
        for key, doc in self._rows(lo, hi, None if (self._filters or end_cursor) else limit + 1):
            if end_cursor is None and len(page) >= limit:
                exhausted = False
                break
            scanned += 1
            last_key = key
            if self._matches(doc):
                page.append(doc)
            if max_rows is not None and scanned >= int(max_rows):
                exhausted = False
                break
        if end_cursor is not None:
            return self._page(page, end_key is None, str(end_cursor))
        if exhausted:
            return self._page(page, True, self._cursor(None))
        if last_key is None:  # stopped before reading anything (numItems 0): stay in place
            return self._page(page, False, cursor if isinstance(cursor, str) else self._cursor(b""))
        return self._page(page, False, self._cursor(last_key))

    @staticmethod
    def _page(page: list[Document], done: bool, cursor: str) -> dict[str, Any]:
        return {
            "page": page,
            "isDone": done,
            "continueCursor": cursor,
            "splitCursor": None,
            "pageStatus": None,
        }
