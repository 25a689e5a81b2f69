"""Read-only SQL views over app data: what a view holds, independent of the backend's SQL.

The engine describes one view per table (its table number and typed top-level fields); each
backend renders it in its own dialect next to its storage tables, so ``psql``, ``sqlite3``,
DuckDB or Datasette can query app data without knowing how documents are stored. Views are
derived data: they are never copied by ``livebase migrate`` and are rebuilt on start.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

MARKER = "livebase view"
"""Starts the comment that marks a view as Livebase's own: only marked views are ever replaced
or dropped, so a user's hand-made views and tables are left alone."""


class ColumnKind(StrEnum):
    TEXT = "text"  # strings and ids
    FLOAT = "float"  # float64, including NaN/inf where the dialect has them
    BOOLEAN = "boolean"
    INT64 = "int64"  # decoded from {"$integer": base64} in plain SQL
    BYTES = "bytes"  # bytea on PostgreSQL; the base64 text on SQLite (it has no decoder)
    JSON = "json"  # objects, arrays, unions of several kinds, v.any(): Convex wire JSON


@dataclass(frozen=True)
class ViewColumn:
    field: str  # the top-level document field, also the column's name
    kind: ColumnKind


@dataclass(frozen=True)
class ViewDefinition:
    table_number: int
    columns: tuple[ViewColumn, ...] | None
    """Typed columns after ``_id`` and ``_creationTime``; None for a table without a document
    validator, whose view has one ``document`` column with the whole document as JSON."""


def fingerprint(sql: str) -> str:
    """A short hash of a view's SQL, stored in its marker so an unchanged view is not rebuilt."""
    return hashlib.sha256(sql.encode()).hexdigest()[:16]
