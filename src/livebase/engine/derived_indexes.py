"""Indexes derived from documents beside the regular ones (full-text search, vector) on a schema
change: drop those removed or changed, build and backfill new ones, and rebuild on open those
the storage lacks. One procedure; each kind says how it reads, compares and builds its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from livebase.engine.catalog import Catalog, TableInfo
from livebase.schema.definition import SchemaDefinition, TableDefinition
from livebase.storage.base import StorageWriter

Progress = Callable[[str, int, int], None]
Rows = Callable[[StorageWriter, Catalog, str], list[tuple[str, str]]]
Info = TypeVar("Info")  # what the catalog records of one built index
Definition = TypeVar("Definition")  # what the schema says of it


@dataclass(frozen=True)
class IndexKind(Generic[Info, Definition]):
    built: Callable[[TableInfo], Mapping[str, Info]]
    wanted: Callable[[TableDefinition], Mapping[str, Definition]]
    same: Callable[[Definition, Info], bool]
    """Whether the built index is what the definition asks (else it is dropped and rebuilt)."""
    make: Callable[[int, Definition], Info]
    """The catalog entry of a new index with this id."""
    add: Callable[[Catalog, str, str, Info], Catalog]
    remove: Callable[[Catalog, str, str], Catalog]
    drop: Callable[[StorageWriter, Info], None]
    exists: Callable[[StorageWriter, Info], bool]
    backfill: Callable[
        [StorageWriter, str, str, Info, list[tuple[str, str]], Progress | None], None
    ]


def apply(
    kind: IndexKind[Info, Definition],
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
        wanted = kind.wanted(definition) if definition is not None else {}
        for name, existing in kind.built(info).items():
            d = wanted.get(name)
            if d is None or not kind.same(d, existing):
                kind.drop(w, existing)
                catalog = kind.remove(catalog, table, name)
                dropped.append(f"{table}.{name}")
        rows: list[tuple[str, str]] | None = None
        for name, d in wanted.items():
            if name in kind.built(catalog.tables[table]):
                continue
            index = kind.make(catalog.next_index_id, d)
            catalog = kind.add(catalog, table, name, index)
            if rows is None:
                rows = table_rows(w, catalog, table)
            kind.backfill(w, table, name, index, rows, progress)
            added.append(f"{table}.{name}")
    return catalog


def rebuild_missing(
    kind: IndexKind[Info, Definition],
    w: StorageWriter,
    catalog: Catalog,
    table_rows: Rows,
    progress: Progress | None,
) -> None:
    for table, info in catalog.tables.items():
        for name, index in kind.built(info).items():
            if not kind.exists(w, index):
                kind.backfill(w, table, name, index, table_rows(w, catalog, table), progress)
