"""Vector search: the storage's vector index finds candidates (sqlite-vec on SQLite; pgvector,
``cube`` or arrays scored in SQL on PostgreSQL), and the engine scores them again from the stored
documents in float64 with the same code as the exact scan, best first (ties to the lower
``_id``). Where the storage has no index to search (SQLite without sqlite-vec, a read at an
earlier timestamp) every document of the table that passes the filter is scanned and scored.

Either way the read set records the same reads, so a subscription to a query using
``with_vector_index`` re-runs on a write that could change its result: with a filter on fields
that each lead a regular index of the table, only writes of documents having one of the filter's
values (in the old or new version); otherwise any write to the table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from operator import mul
from typing import Any, cast

from livebase.engine.query import Query
from livebase.engine.transaction import Document, Transaction, decode_document
from livebase.errors import InvalidQueryError, ValidationError
from livebase.search.entries import field_value
from livebase.storage.vector_types import VectorRequest, filter_hash
from livebase.values.ordering import MISSING, compare_values
from livebase.values.wire import from_wire, loads
from livebase.vectors.definition import (
    VectorIndexDefinition,
    VectorInputError,
    check_limit,
    check_vector,
)
from livebase.vectors.filters import VectorFilter, build_filter


def vector_index_of(tx: Transaction, table: str, name: str) -> VectorIndexDefinition:
    definition = tx.schema.tables.get(table)
    indexes = getattr(definition, "vector_indexes", {}) if definition is not None else {}
    if name in indexes:
        found: VectorIndexDefinition = indexes[name]
        return found
    listed = ", ".join(sorted(indexes)) if indexes else "none (define one with .vector_index())"
    raise InvalidQueryError(
        f"table {table!r} has no vector index {name!r}; its vector indexes are {listed}"
    )


def score(metric: str, query: list[float], qnorm: float, value: list[float]) -> float:
    """Summed left to right in float64 (the same code on every backend, so the same bits)."""
    dot = sum(map(mul, query, value))
    if metric == "dot":
        return float(dot)
    norm = math.sqrt(sum(map(mul, value, value)))
    if norm == 0.0 or qnorm == 0.0:
        return 0.0
    return float(dot / (qnorm * norm))


def _leading_index(tx: Transaction, table: str, field: str) -> str | None:
    definition = tx.schema.tables.get(table)
    if definition is None:
        return None
    for name, fields in definition.indexes.items():
        if fields and fields[0] == field:
            return name
    return None


def _queries(tx: Transaction, table: str, flt: VectorFilter | None) -> list[Query]:
    """The reads that find every document the filter may select: the whole table, or, when
    each filter field leads an index, each filter value's range of it."""
    queries = [Query(tx, table)]
    if flt is not None:
        indexes = [_leading_index(tx, table, f) for f, _ in flt.eqs]
        if all(i is not None for i in indexes):
            queries = []
            for (field, value), index in zip(flt.eqs, indexes, strict=True):
                assert index is not None
                queries.append(
                    Query(tx, table).with_index(
                        index,
                        lambda r, f=field, v=value: r.eq(f, v),  # type: ignore[misc]
                    )
                )
    return queries


def _candidates(tx: Transaction, table: str, flt: VectorFilter | None) -> Iterator[str]:
    """The stored JSON text of each document the filter may select (decoding every candidate
    in full would cost most of the search; only the results are decoded)."""
    queries = _queries(tx, table, flt)
    seen: set[str] = set()
    for q in queries:
        lo, hi = q._bounds()
        for _, stored in q._rows(lo, hi, decode=_keep_text):
            text = cast(str, stored)
            if len(queries) > 1:
                if text in seen:
                    continue
                seen.add(text)
            yield text


def _keep_text(text: str) -> str:
    return text


def _matches(raw: dict[str, Any], flt: VectorFilter | None) -> bool:
    if flt is None:
        return True
    for field, value in flt.eqs:
        got = field_value(raw, field)
        try:
            if got is not MISSING:
                got = from_wire(got)
            if compare_values(got, value) == 0:
                return True
        except (TypeError, ValueError):
            continue
    return False


def _record_reads(tx: Transaction, table: str, flt: VectorFilter | None) -> None:
    """Record in the read set exactly what the exact scan records when it reads to the end:
    the whole table, or each filter value's range of the index its field leads."""
    for q in _queries(tx, table, flt):
        index = q._index()
        if index is None:
            tx.read_set.tables_absent.add(table)
            continue
        lo, hi = q._bounds()
        bucket = q._range.prefix() if q._range is not None else b""
        tx.read_set.add(index.index_id, lo, hi, bucket)


Ranked = list[tuple[float, str, str]]
"""(score, ``_id``, stored JSON text) of the best documents, best first."""


def _rank(
    texts: Iterable[str],
    definition: VectorIndexDefinition,
    query: list[float],
    qnorm: float,
    k: int,
    flt: VectorFilter | None,
) -> Ranked:
    """Score each document (stored JSON) that passes the filter and has a vector of the
    index's size; the best ``k``, ties to the lower ``_id``."""
    scored: Ranked = []
    for text in texts:
        raw = loads(text)
        if not _matches(raw, flt):
            continue  # outside the filter (for the index: a filter-hash collision)
        value = field_value(raw, definition.vector_field)
        if not isinstance(value, list) or len(value) != definition.dimensions:
            continue
        try:
            s = score(definition.metric, query, qnorm, value)
        except TypeError:
            continue  # an Int64 ({"$integer"}) or a string among the components: no vector
        scored.append((s, raw["_id"], text))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return scored[:k]


def _indexed(
    tx: Transaction,
    table: str,
    index: str,
    definition: VectorIndexDefinition,
    query: list[float],
    qnorm: float,
    k: int,
    flt: VectorFilter | None,
) -> Ranked | None:
    """The best ``k`` from the storage's vector index, rescored exactly; None where the
    storage has no index to search (then the caller scans)."""
    info = tx.table_info(table)
    built = info.vector_indexes.get(index) if info is not None else None
    if built is None or (definition.metric == "cosine" and qnorm == 0.0):
        return None  # a zero query vector scores every document 0: the scan's id order
    positions = {f: i for i, f in enumerate(built.filter_fields)}
    any_of = None
    if flt is not None:
        any_of = tuple(sorted({(positions[f], filter_hash(v)) for f, v in flt.eqs}))
    request = VectorRequest(tuple(query), definition.metric, k + candidate_margin(k), any_of)
    tx.check_deadline()
    candidates = tx.store.vector_search(built.index_id, request)
    if candidates is None:
        return None
    _record_reads(tx, table, flt)
    for candidate in candidates:
        tx.count_read(candidate.document)
    return _rank((c.document for c in candidates), definition, query, qnorm, k, flt)


def candidate_margin(k: int) -> int:
    """Candidates asked beyond ``k``: the index orders in float32 (sqlite-vec), the results
    are rescored in float64, so documents whose float32 scores tie near the cut still get in."""
    return max(k, 16)


def _ranked(
    tx: Transaction,
    table: str,
    index: str,
    vector: Any,
    limit: Any,
    filter: Callable[[Any], Any] | VectorFilter | None,
    exact: bool,
) -> Ranked:
    definition = vector_index_of(tx, table, index)
    query = check_vector(vector, definition.dimensions, "the query vector")
    k = check_limit(limit)
    flt = build_filter(index, definition.filter_fields, filter)
    qnorm = math.sqrt(sum(map(mul, query, query)))
    if not exact:
        indexed = _indexed(tx, table, index, definition, query, qnorm, k, flt)
        if indexed is not None:
            return indexed
    return _rank(_candidates(tx, table, flt), definition, query, qnorm, k, flt)


def vector_hits(
    tx: Transaction,
    table: str,
    index: str,
    vector: Any,
    limit: Any = None,
    filter: Callable[[Any], Any] | VectorFilter | None = None,
    *,
    exact: bool = False,
) -> list[tuple[float, Document]]:
    """The best ``limit`` (score, document) pairs, best first. ``exact=True`` scans even where
    the storage has an index (``bench/vectors.py`` compares the two)."""
    ranked = _ranked(tx, table, index, vector, limit, filter, exact)
    return [(s, decode_document(text)) for s, _, text in ranked]


def vector_search(
    tx: Transaction,
    table: str,
    index: str,
    vector: Any,
    limit: Any = None,
    filter: Callable[[Any], Any] | VectorFilter | None = None,
    *,
    exact: bool = False,
) -> list[dict[str, Any]]:
    """Convex's ``ctx.vectorSearch`` result: ``[{"_id", "_score"}]`` best first (the
    documents themselves are not decoded)."""
    ranked = _ranked(tx, table, index, vector, limit, filter, exact)
    return [{"_id": doc_id, "_score": s} for s, doc_id, _ in ranked]


def check_document_vectors(tx: Transaction, table: str, doc: Document) -> None:
    """Refuse a document whose vector-indexed field is not a vector of the index's size."""
    definition = tx.schema.tables.get(table)
    for name, vi in getattr(definition, "vector_indexes", {}).items():
        value = field_value(doc, vi.vector_field)
        if value is MISSING:
            continue
        what = f"document in {table!r}: field {vi.vector_field!r} (vector index {name!r})"
        try:
            check_vector(value, vi.dimensions, what)
        except VectorInputError as exc:
            raise ValidationError(exc.message, path=vi.vector_field) from None
