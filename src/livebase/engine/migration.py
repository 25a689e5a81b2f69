"""Apply a schema to a database: create tables, check existing documents, build and drop indexes.

All of it happens in one write transaction, so a refused schema leaves nothing changed: the
refusal lists the offending document ids and what is wrong with each.

The same pass migrates documents stored under an older number model (``Catalog.value_model``).
Under model 1 every Python ``int`` was stored as an int64; under model 2 it is a float64 number.
So each stored int64 that a float64 holds exactly becomes a number, and then the schema's
validators turn the fields it declares ``v.int64()`` back into int64: a document keeps what its
numbers meant, and JavaScript clients get ``number`` where the app never asked for ``bigint``.
An int64 beyond 2**53 stays an int64 (a float64 would lose digits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from livebase.engine import derived_indexes, vector_migration
from livebase.engine.catalog import BY_CREATION_TIME, VALUE_MODEL, Catalog, TableInfo
from livebase.engine.derived_indexes import IndexKind
from livebase.engine.search_migration import SEARCH_INDEXES
from livebase.engine.transaction import (
    Write,
    decode_document,
    encode_document,
    update_search_entries,
)
from livebase.engine.vector_migration import VECTOR_INDEXES
from livebase.errors import SchemaMigrationError, ValidationError
from livebase.schema.definition import SchemaDefinition
from livebase.storage.base import StorageWriter
from livebase.values.types import MAX_SAFE_INT, Int64
from livebase.vectors.entries import update_entries as update_vector_entries

_KEY_MAX = b"\xff\xff"
_BATCH = 512
MAX_LISTED = 10

Progress = Callable[[str, int, int], None]
"""``progress(what, done, total)``: reports long work such as index backfills."""
DERIVED_INDEXES: tuple[IndexKind[Any, Any], ...] = (SEARCH_INDEXES, VECTOR_INDEXES)


@dataclass
class MigrationReport:
    tables_created: list[str] = field(default_factory=list)
    indexes_added: list[str] = field(default_factory=list)
    indexes_dropped: list[str] = field(default_factory=list)
    documents_checked: int = 0
    rewrites: list[Write] = field(default_factory=list)
    """Documents rewritten in their normalised form (e.g. an int stored where the schema now
    says ``v.number()`` becomes a float); the engine records them as one commit."""


def _table_rows(w: StorageWriter, catalog: Catalog, table: str) -> list[tuple[str, str]]:
    info = catalog.tables[table]
    index_id = info.indexes[BY_CREATION_TIME].index_id
    rows: list[tuple[str, str]] = []
    lo = b""
    while True:
        batch = w.scan_index(index_id, lo, _KEY_MAX, reverse=False, limit=_BATCH)
        rows.extend((r.key.hex(), r.document) for r in batch)
        if len(batch) < _BATCH:
            return rows
        lo = batch[-1].key + b"\x00"


def apply_schema(
    w: StorageWriter, catalog: Catalog, schema: SchemaDefinition, progress: Progress | None = None
) -> tuple[Catalog, MigrationReport]:
    report = MigrationReport()
    migrating = catalog.value_model < VALUE_MODEL
    unchanged = catalog.schema_fingerprint == schema.fingerprint()
    if unchanged and not migrating and not vector_migration.catalog_lacks(catalog, schema):
        for kind in DERIVED_INDEXES:
            derived_indexes.rebuild_missing(kind, w, catalog, _table_rows, progress)
        return catalog, report
    for table in schema.tables:
        if table not in catalog.tables:
            catalog = catalog.with_table(table)
            report.tables_created.append(table)
    problems: list[str] = []
    numbered = catalog  # table numbers are final from here on; index changes do not touch them

    def table_name(number: int) -> str | None:
        return _name(numbered, number)

    for table in list(catalog.tables):
        definition = schema.tables.get(table)
        validator = definition.document if definition and schema.schema_validation else None
        if validator is None and not migrating:
            continue
        info = catalog.tables[table]
        rows = _table_rows(w, catalog, table)
        for done, (_, text) in enumerate(rows, 1):
            doc = decode_document(text)
            fields = {k: v for k, v in doc.items() if not k.startswith("_")}
            if migrating:
                fields = as_float64_numbers(fields)
            report.documents_checked += 1
            if validator is not None:
                try:
                    fields = validator.validate(fields, "", table_name)
                except ValidationError as exc:
                    problems.append(f"{table} {doc['_id']}: {exc.message}")
                    continue
            new_doc = {"_id": doc["_id"], "_creationTime": doc["_creationTime"], **fields}
            new_text = encode_document(new_doc)
            if not problems and new_text != text:
                report.rewrites.append(_rewrite(w, info, doc, new_doc, new_text))
            if progress and done % 1000 == 0:
                progress(f"checking {table}", done, len(rows))

    for table, definition in schema.tables.items():
        backfill: list[tuple[str, str]] | None = None  # read once, if an index needs a backfill
        info = catalog.tables[table]
        for name, existing in list(info.indexes.items()):
            if name in ("by_id", BY_CREATION_TIME):
                continue
            if definition.indexes.get(name) != existing.fields:
                w.drop_index(existing.index_id)
                catalog = catalog.without_index(table, name)
                report.indexes_dropped.append(f"{table}.{name}")
        for name, index_fields in definition.indexes.items():
            if name in catalog.tables[table].indexes:
                continue
            catalog = catalog.with_index(table, name, index_fields)
            index = catalog.tables[table].indexes[name]
            if backfill is None:
                backfill = _table_rows(w, catalog, table)
            for done, (_, text) in enumerate(backfill, 1):
                doc = decode_document(text)
                w.put_index_entry(index.index_id, index.key_for(name, doc), doc["_id"])
                if progress and (done % 1000 == 0 or done == len(backfill)):
                    progress(f"backfilling {table}.{name}", done, len(backfill))
            report.indexes_added.append(f"{table}.{name}")
    added, dropped = report.indexes_added, report.indexes_dropped
    for kind in DERIVED_INDEXES:
        catalog = derived_indexes.apply(
            kind, w, catalog, schema, _table_rows, progress, added, dropped
        )
    for table, info in catalog.tables.items():
        if table in schema.tables:
            continue
        for name, existing in list(info.indexes.items()):
            if name not in ("by_id", BY_CREATION_TIME):
                w.drop_index(existing.index_id)
                catalog = catalog.without_index(table, name)
                report.indexes_dropped.append(f"{table}.{name}")
    if problems:
        listed = "\n  ".join(problems[:MAX_LISTED])
        more = (
            f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        )
        raise SchemaMigrationError(
            f"the schema does not match {len(problems)} existing document(s); nothing was "
            f"changed. Fix the documents or widen the schema:\n  {listed}{more}"
        )
    return (
        replace(catalog, schema_fingerprint=schema.fingerprint(), value_model=VALUE_MODEL),
        report,
    )


def as_float64_numbers(value: Any) -> Any:
    """``value`` with every int64 that a float64 holds exactly turned into a number (model 1 ->
    model 2, before the schema's validators turn declared int64 fields back)."""
    if isinstance(value, Int64):
        return int(value) if -MAX_SAFE_INT <= value <= MAX_SAFE_INT else value
    if isinstance(value, list):
        return [as_float64_numbers(x) for x in value]
    if isinstance(value, dict):
        return {k: as_float64_numbers(x) for k, x in value.items()}
    return value


def _rewrite(
    w: StorageWriter, info: TableInfo, old: dict[str, Any], new: dict[str, Any], text: str
) -> Write:
    old_keys, new_keys = info.index_keys(old), info.index_keys(new)
    for index_id, key in old_keys.items():
        if new_keys[index_id] != key:
            w.delete_index_entry(index_id, key)
            w.put_index_entry(index_id, new_keys[index_id], new["_id"])
    w.put_document(new["_id"], info.number, text)
    if info.search_indexes:
        update_search_entries(w, info, new["_id"], old, new)
    if info.vector_indexes:
        update_vector_entries(w, info.vector_indexes.values(), new["_id"], old, new)
    return Write(info.name, new["_id"], old_keys, new_keys, new, previous=old, text=text)


def _name(catalog: Catalog, number: int) -> str | None:
    t = catalog.by_number(number)
    return t.name if t else None
