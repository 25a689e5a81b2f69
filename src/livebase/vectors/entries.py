"""What a document puts in a vector index, and keeping the indexes in step with its writes."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from livebase.engine.catalog import VectorIndexInfo
from livebase.search.entries import field_value
from livebase.storage.base import StorageWriter
from livebase.storage.vector_types import VectorEntry, VectorIndexSpec, filter_hash


def spec_of(info: VectorIndexInfo) -> VectorIndexSpec:
    return VectorIndexSpec(info.dimensions, info.metric, len(info.filter_fields))


def entry_for(info: VectorIndexInfo, doc: dict[str, Any] | None) -> VectorEntry | None:
    """The document's entry, or None if it has no vector the index can take: the field is
    missing, of another size, or holds something other than plain finite numbers (an int64
    component included), exactly the documents the exact scan skips."""
    if doc is None:
        return None
    value = field_value(doc, info.vector_field)
    if not isinstance(value, list) or len(value) != info.dimensions:
        return None
    if not all(type(x) is float or type(x) is int for x in value):
        return None
    vector = tuple(float(x) for x in value)
    if not all(math.isfinite(x) for x in vector):
        return None
    filters = tuple(filter_hash(field_value(doc, f)) for f in info.filter_fields)
    return VectorEntry(vector, filters)


def update_entries(
    writer: StorageWriter,
    indexes: Iterable[VectorIndexInfo],
    doc_id: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
) -> None:
    """Bring every vector index of a table in step with one document write (``old``: None for
    an insert; ``new``: None for a delete), in the writer's transaction."""
    for info in indexes:
        before = entry_for(info, old)
        after = entry_for(info, new)
        if before == after:
            continue
        if after is None:
            writer.delete_vector_entry(info.index_id, doc_id)
        else:
            writer.put_vector_entry(info.index_id, doc_id, after, replace=before is not None)
