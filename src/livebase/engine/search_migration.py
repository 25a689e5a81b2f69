"""Search indexes on a schema change: create and backfill new ones, drop removed ones.

Part of ``apply_schema``'s one write transaction: a refused schema leaves no search index
half-built. A search index the catalog lists but the storage lacks (a database copied by
``livebase migrate``, which copies documents, not search indexes) is rebuilt on open.
"""

from __future__ import annotations

from collections.abc import Callable

from livebase.engine.catalog import Catalog, SearchIndexInfo
from livebase.engine.transaction import decode_document
from livebase.schema.definition import SchemaDefinition
from livebase.search.entries import entry_for
from livebase.storage.base import StorageWriter

Progress = Callable[[str, int, int], None]
Rows = Callable[[StorageWriter, Catalog, str], list[tuple[str, str]]]


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


def apply_search_indexes(
    w: StorageWriter,
    catalog: Catalog,
    schema: SchemaDefinition,
    table_rows: Rows,
    progress: Progress | None,
    added: list[str],
    dropped: list[str],
) -> Catalog:
    for table, info in list(catalog.tables.items()):
        definition = schema.tables.get(table)
        wanted = definition.search_indexes if definition is not None else {}
        for name, existing in info.search_indexes.items():
            d = wanted.get(name)
            if d is None or (d.search_field, d.filter_fields) != (
                existing.search_field,
                existing.filter_fields,
            ):
                w.drop_search_index(existing.index_id)
                catalog = catalog.without_search_index(table, name)
                dropped.append(f"{table}.{name}")
        rows: list[tuple[str, str]] | None = None
        for name, d in wanted.items():
            if name in catalog.tables[table].search_indexes:
                continue
            index = SearchIndexInfo(catalog.next_index_id, d.search_field, d.filter_fields)
            catalog = catalog.with_search_index(table, name, index)
            if rows is None:
                rows = table_rows(w, catalog, table)
            backfill(w, table, name, index, rows, progress)
            added.append(f"{table}.{name}")
    return catalog


def rebuild_missing(
    w: StorageWriter, catalog: Catalog, table_rows: Rows, progress: Progress | None
) -> None:
    for table, info in catalog.tables.items():
        for name, index in info.search_indexes.items():
            if not w.has_search_index(index.index_id):
                backfill(w, table, name, index, table_rows(w, catalog, table), progress)
