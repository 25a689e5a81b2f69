"""Vector indexes on a schema change: build and backfill new ones, drop removed or changed ones
(``derived_indexes``, as for search indexes).

Part of ``apply_schema``'s one write transaction: a refused schema leaves no vector index
half-built. A vector index the catalog lists but the storage lacks or holds stale (a database
copied by ``livebase migrate``, or SQLite written while sqlite-vec could not be loaded) is rebuilt
when the database is opened.
"""

from __future__ import annotations

from livebase.engine.catalog import Catalog, VectorIndexInfo
from livebase.engine.derived_indexes import IndexKind, Progress
from livebase.engine.transaction import decode_document
from livebase.schema.definition import SchemaDefinition
from livebase.storage.base import StorageWriter
from livebase.vectors.definition import VectorIndexDefinition
from livebase.vectors.entries import entry_for, spec_of


def backfill(
    w: StorageWriter,
    table: str,
    name: str,
    index: VectorIndexInfo,
    rows: list[tuple[str, str]],
    progress: Progress | None,
) -> None:
    w.create_vector_index(index.index_id, spec_of(index))
    if not w.has_vector_index(index.index_id):
        return  # the backend cannot hold it now (SQLite without sqlite-vec): searches scan
    for done, (_, text) in enumerate(rows, 1):
        doc = decode_document(text)
        entry = entry_for(index, doc)
        if entry is not None:
            w.put_vector_entry(index.index_id, doc["_id"], entry, replace=False)
        if progress and (done % 1000 == 0 or done == len(rows)):
            progress(f"backfilling {table}.{name}", done, len(rows))


def _same(d: VectorIndexDefinition, i: VectorIndexInfo) -> bool:
    return (d.vector_field, d.dimensions, d.filter_fields, d.metric) == (
        i.vector_field,
        i.dimensions,
        i.filter_fields,
        i.metric,
    )


VECTOR_INDEXES: IndexKind[VectorIndexInfo, VectorIndexDefinition] = IndexKind(
    built=lambda t: t.vector_indexes,
    wanted=lambda d: d.vector_indexes,
    same=_same,
    make=lambda index_id, d: VectorIndexInfo(
        index_id, d.vector_field, d.dimensions, d.filter_fields, d.metric
    ),
    add=Catalog.with_vector_index,
    remove=Catalog.without_vector_index,
    drop=lambda w, i: w.drop_vector_index(i.index_id),
    exists=lambda w, i: w.has_vector_index(i.index_id),
    backfill=backfill,
)


def catalog_lacks(catalog: Catalog, schema: SchemaDefinition) -> bool:
    """Whether the schema has a vector index the catalog does not (a database written before
    vector indexes were built in storage): the schema must be applied again to build it."""
    for table, definition in schema.tables.items():
        info = catalog.tables.get(table)
        if info is not None and set(definition.vector_indexes) - set(info.vector_indexes):
            return True
    return False
