"""Apply a schema to a database: create tables, check existing documents, build and drop indexes.

All of it happens in one write transaction, so a refused schema leaves nothing changed: the
refusal lists the offending document ids and what is wrong with each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from livebase.engine.catalog import BY_CREATION_TIME, Catalog, TableInfo
from livebase.engine.transaction import Write, decode_document, encode_document
from livebase.errors import SchemaMigrationError, ValidationError
from livebase.schema.definition import SchemaDefinition
from livebase.storage.base import StorageWriter

_KEY_MAX = b"\xff\xff"
_BATCH = 512
MAX_LISTED = 10

Progress = Callable[[str, int, int], None]
"""``progress(what, done, total)``: reports long work such as index backfills."""


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
    if catalog.schema_fingerprint == schema.fingerprint():
        return catalog, report
    for table in schema.tables:
        if table not in catalog.tables:
            catalog = catalog.with_table(table)
            report.tables_created.append(table)
    problems: list[str] = []
    numbered = catalog  # table numbers are final from here on; index changes do not touch them

    def table_name(number: int) -> str | None:
        return _name(numbered, number)

    for table, definition in schema.tables.items():
        rows = _table_rows(w, catalog, table)
        info = catalog.tables[table]
        if definition.document is not None and schema.schema_validation:
            rewritten = False
            for done, (_, text) in enumerate(rows, 1):
                doc = decode_document(text)
                fields = {k: v for k, v in doc.items() if not k.startswith("_")}
                try:
                    normal = definition.document.validate(fields, "", table_name)
                except ValidationError as exc:
                    problems.append(f"{table} {doc['_id']}: {exc.message}")
                    continue
                finally:
                    report.documents_checked += 1
                new_doc = {"_id": doc["_id"], "_creationTime": doc["_creationTime"], **normal}
                new_text = encode_document(new_doc)
                if not problems and new_text != text:
                    report.rewrites.append(_rewrite(w, info, doc, new_doc, new_text))
                    rewritten = True
                if progress and done % 1000 == 0:
                    progress(f"checking {table}", done, len(rows))
            if rewritten:
                rows = _table_rows(w, catalog, table)
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
            for done, (_, text) in enumerate(rows, 1):
                doc = decode_document(text)
                w.put_index_entry(index.index_id, index.key_for(name, doc), doc["_id"])
                if progress and (done % 1000 == 0 or done == len(rows)):
                    progress(f"backfilling {table}.{name}", done, len(rows))
            report.indexes_added.append(f"{table}.{name}")
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
    return replace(catalog, schema_fingerprint=schema.fingerprint()), report


def _rewrite(
    w: StorageWriter, info: TableInfo, old: dict[str, Any], new: dict[str, Any], text: str
) -> Write:
    old_keys, new_keys = info.index_keys(old), info.index_keys(new)
    for index_id, key in old_keys.items():
        if new_keys[index_id] != key:
            w.delete_index_entry(index_id, key)
            w.put_index_entry(index_id, new_keys[index_id], new["_id"])
    w.put_document(new["_id"], info.number, text)
    return Write(info.name, new["_id"], old_keys, new_keys, new, previous=old, text=text)


def _name(catalog: Catalog, number: int) -> str | None:
    t = catalog.by_number(number)
    return t.name if t else None
