"""Vector search by exact scan: every document of the table that passes the filter is scored
against the query vector, best first (ties to the lower ``_id``).

The scan reads through ``Query``, so the read set records what it read and a subscription to a
query using ``with_vector_index`` re-runs on a write that could change its result: with a filter
on fields that each lead a regular index of the table, only writes of documents having one of
the filter's values (in the old or new version); otherwise any write to the table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from operator import mul
from typing import Any, cast

from livebase.engine.query import Query
from livebase.engine.transaction import Document, Transaction, decode_document
from livebase.errors import InvalidQueryError, ValidationError
from livebase.search.entries import field_value
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


def _candidates(tx: Transaction, table: str, flt: VectorFilter | None) -> Iterator[str]:
    """The stored JSON text of each document the filter may select (decoding every candidate
    in full would cost most of the search; only the results are decoded)."""
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


def vector_hits(
    tx: Transaction,
    table: str,
    index: str,
    vector: Any,
    limit: Any = None,
    filter: Callable[[Any], Any] | VectorFilter | None = None,
) -> list[tuple[float, Document]]:
    """The best ``limit`` (score, document) pairs, best first."""
    definition = vector_index_of(tx, table, index)
    query = check_vector(vector, definition.dimensions, "the query vector")
    k = check_limit(limit)
    flt = build_filter(index, definition.filter_fields, filter)
    qnorm = math.sqrt(sum(map(mul, query, query)))
    scored: list[tuple[float, str, str]] = []
    for text in _candidates(tx, table, flt):
        raw = loads(text)
        if not _matches(raw, flt):
            continue
        value = field_value(raw, definition.vector_field)
        if not isinstance(value, list) or len(value) != definition.dimensions:
            continue
        try:
            s = score(definition.metric, query, qnorm, value)
        except TypeError:
            continue  # an Int64 ({"$integer"}) or a string among the components: no vector
        scored.append((s, raw["_id"], text))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [(s, decode_document(text)) for s, _, text in scored[:k]]


def vector_search(
    tx: Transaction,
    table: str,
    index: str,
    vector: Any,
    limit: Any = None,
    filter: Callable[[Any], Any] | VectorFilter | None = None,
) -> list[dict[str, Any]]:
    """Convex's ``ctx.vectorSearch`` result: ``[{"_id", "_score"}]`` best first."""
    hits = vector_hits(tx, table, index, vector, limit, filter)
    return [{"_id": d["_id"], "_score": s} for s, d in hits]


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
