"""Which read-only SQL views app data gets: one per table, a column per top-level schema field.

Rebuilt whenever the schema is applied (start and every reload), inside the same write
transaction, so views follow the schema. Tables declared with an object validator get typed
columns; other declared tables, and undeclared tables that hold documents (an app without
``schema.py``, or a table taken out of the schema but not emptied), get a view with the whole
document as JSON. A view whose table left the schema and holds nothing is dropped. Views are a
convenience for other tools: a failure here is logged and never stops the app.
"""

from __future__ import annotations

import logging

from livebase.engine.catalog import BY_ID, Catalog
from livebase.schema.definition import SchemaDefinition
from livebase.storage.base import StorageReader, StorageWriter
from livebase.storage.views import ColumnKind, ViewColumn, ViewDefinition
from livebase.values.types import Int64
from livebase.values.validators import Validator, _Literal, _Optional, _Union

log = logging.getLogger(__name__)

_KINDS = {
    "string": ColumnKind.TEXT,
    "id": ColumnKind.TEXT,
    "float64": ColumnKind.FLOAT,
    "int64": ColumnKind.INT64,
    "boolean": ColumnKind.BOOLEAN,
    "bytes": ColumnKind.BYTES,
}
_NULL = None  # v.null(): makes a column nullable, says nothing about its type


def _kinds(validator: Validator) -> set[ColumnKind | None]:
    if isinstance(validator, _Optional):
        return _kinds(validator.inner)
    if isinstance(validator, _Union):
        return set().union(*(_kinds(m) for m in validator.members))
    if isinstance(validator, _Literal):
        value = validator.value
        if isinstance(value, bool):
            return {ColumnKind.BOOLEAN}
        if isinstance(value, Int64):
            return {ColumnKind.INT64}
        return {ColumnKind.FLOAT if isinstance(value, float) else ColumnKind.TEXT}
    if validator.kind == "null":
        return {_NULL}
    return {_KINDS.get(validator.kind, ColumnKind.JSON)}


def column_kind(validator: Validator) -> ColumnKind:
    """One SQL type for a field: ``v.union(v.literal("a"), v.literal("b"))`` is text,
    ``v.optional(v.int64())`` an integer, anything that mixes types JSON."""
    kinds = _kinds(validator) - {_NULL}
    if len(kinds) == 1:
        (kind,) = kinds
        if kind is not None:
            return kind
    return ColumnKind.JSON


def _holds_documents(r: StorageReader, catalog: Catalog, table: str) -> bool:
    index = catalog.tables[table].indexes[BY_ID].index_id
    return bool(r.scan_index(index, b"", b"\xff\xff", reverse=False, limit=1))


def view_definitions(
    schema: SchemaDefinition, catalog: Catalog, r: StorageReader
) -> dict[str, ViewDefinition]:
    views: dict[str, ViewDefinition] = {}
    for name, info in catalog.tables.items():
        if name in schema.tables:
            fields = schema.table_fields(name)
            columns = (
                None
                if fields is None
                else tuple(ViewColumn(f, column_kind(v)) for f, v in fields.items())
            )
            views[name] = ViewDefinition(info.number, columns)
        elif _holds_documents(r, catalog, name):
            views[name] = ViewDefinition(info.number, None)
    return views


def refresh_views(w: StorageWriter, schema: SchemaDefinition, catalog: Catalog) -> None:
    """Bring the database's views in step with ``schema`` (in ``w``'s transaction)."""
    try:
        w.replace_views(view_definitions(schema, catalog, w))
    except Exception:
        log.exception("SQL views over app data were not updated")
