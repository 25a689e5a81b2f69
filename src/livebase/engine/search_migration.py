"""Search indexes on a schema change: create and backfill new ones, drop removed ones.

Part of ``apply_schema``'s one write transaction: a refused schema leaves no search index
half-built. A search index the catalog lists but the storage lacks (a database copied by
``livebase migrate``, which copies documents, not search indexes) is rebuilt on open.
"""

from __future__ import annotations

from livebase.engine.catalog import Catalog, SearchIndexInfo
from livebase.engine.derived_indexes import IndexKind, Progress
from livebase.engine.transaction import decode_document
from livebase.schema.definition import SearchIndexDefinition
from livebase.search.entries import entry_for
from livebase.storage.base import StorageWriter


def backfill(
    w: StorageWriter,
    table: str,
    name: str,
    index: SearchIndexInfo,
    rows: list[tuple[str, str]],
    progress: Progress | None,
) -> None:
    w.create_search_index(index.index_id)
    for done, (_, text) in enumerate(rows, 1):
        doc = decode_document(text)
        entry = entry_for(index.search_field, index.filter_fields, doc)
        if entry is not None:
            w.put_search_entry(index.index_id, doc["_id"], entry, replace=False)
        if progress and (done % 1000 == 0 or done == len(rows)):
            progress(f"backfilling {table}.{name}", done, len(rows))


def _same(d: SearchIndexDefinition, i: SearchIndexInfo) -> bool:
    return (d.search_field, d.filter_fields) == (i.search_field, i.filter_fields)


SEARCH_INDEXES: IndexKind[SearchIndexInfo, SearchIndexDefinition] = IndexKind(
    built=lambda t: t.search_indexes,
    wanted=lambda d: d.search_indexes,
    same=_same,
    make=lambda index_id, d: SearchIndexInfo(index_id, d.search_field, d.filter_fields),
    add=Catalog.with_search_index,
    remove=Catalog.without_search_index,
    drop=lambda w, i: w.drop_search_index(i.index_id),
    exists=lambda w, i: w.has_search_index(i.index_id),
    backfill=backfill,
)
