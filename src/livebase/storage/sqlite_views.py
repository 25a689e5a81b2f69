"""The SQL views over app data on SQLite, in plain SQL that any SQLite with JSON1 can run.

External tools (the ``sqlite3`` shell, Datasette, DuckDB's SQLite reader) open the file with
their own SQLite and none of our functions, so every column is built from the JSON1 functions
and arithmetic only: int64 values are decoded from their base64 text with ``instr``/``substr``
and bit shifts; bytes stay base64 text (decoding variable-length base64 needs more than an
expression). Views live in the same file as the storage tables and share their namespace, so a
table called ``documents`` gets no view (logged).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Mapping

from livebase.storage.views import MARKER, ColumnKind, ViewColumn, ViewDefinition, fingerprint

log = logging.getLogger(__name__)

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_MARKED = re.compile(r"/\* " + MARKER + r" ([0-9a-f]+) \*/")
# The $float encodings of the special floats (8 little-endian bytes, base64); SQLite has no NaN,
# so NaN stays NULL.
_SPECIAL_FLOATS = (("AAAAAAAA8H8=", "9e999"), ("AAAAAAAA8P8=", "-9e999"), ("AAAAAAAAAIA=", "-0.0"))


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _int64(s: str) -> str:
    """The int64 whose 8 little-endian bytes are base64 text ``s`` (12 characters)."""
    chars = ", ".join(f"instr('{_B64}', substr(s, {i + 1}, 1)) - 1 AS c{i}" for i in range(11))
    parts = []
    for j in range(8):  # byte j spans characters a and a+1 of the 6-bit stream
        a, offset = divmod(8 * j, 6)
        parts.append(f"((((c{a} << 6 | c{a + 1}) >> {4 - offset}) & 255) << {8 * j})")
    return (
        f"(SELECT CASE WHEN length(s) = 12 THEN {' | '.join(parts)} END "
        f"FROM (SELECT s, {chars} FROM (SELECT {s} AS s)))"
    )


def _path(field: str, *keys: str) -> str:
    return _literal("$" + "".join(f'."{key}"' for key in (field, *keys)))


def _column(column: ViewColumn) -> str:
    path = _path(column.field)
    typ = f"json_type(value, {path})"
    got = f"json_extract(value, {path})"
    kind = column.kind
    if kind is ColumnKind.TEXT:
        return f"CASE {typ} WHEN 'text' THEN {got} END"
    if kind is ColumnKind.BOOLEAN:
        return f"CASE {typ} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"
    if kind is ColumnKind.FLOAT:
        special = " ".join(f"WHEN '{b64}' THEN {x}" for b64, x in _SPECIAL_FLOATS)
        encoded = _path(column.field, "$float")
        return (
            f"CASE {typ} WHEN 'real' THEN {got} WHEN 'integer' THEN {got} * 1.0 "
            f"WHEN 'object' THEN CASE json_extract(value, {encoded}) {special} END END"
        )
    if kind is ColumnKind.INT64:
        return _int64(f"json_extract(value, {_path(column.field, '$integer')})")
    if kind is ColumnKind.BYTES:
        return f"json_extract(value, {_path(column.field, '$bytes')})"
    quoted = f"json_quote({got})"
    return (
        f"CASE {typ} WHEN 'object' THEN {got} WHEN 'array' THEN {got} WHEN 'true' THEN 'true' "
        f"WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' WHEN 'text' THEN {quoted} "
        f"WHEN 'real' THEN {quoted} WHEN 'integer' THEN {quoted} END"
    )


def view_sql(name: str, view: ViewDefinition) -> str:
    """``CREATE VIEW`` for table ``name``; fields that cannot be expressed are left out (logged)."""
    columns = ['id AS "_id"', "json_extract(value, '$._creationTime') AS \"_creationTime\""]
    taken = {"_id", "_creationtime"}
    if view.columns is None:
        columns.append('value AS "document"')
    for column in view.columns or ():
        if '"' in column.field or column.field.lower() in taken:
            # A JSON path label cannot hold '"', and SQLite column names ignore case.
            log.warning(
                "SQL view %s: field %r has no column (name not expressible)", name, column.field
            )
            continue
        taken.add(column.field.lower())
        columns.append(f"{_column(column)} AS {quote(column.field)}")
    body = f"{', '.join(columns)} FROM documents WHERE table_number = {view.table_number}"
    return f"CREATE VIEW {quote(name)} AS SELECT /* {MARKER} {fingerprint(body)} */ {body}"


def replace_views(conn: sqlite3.Connection, views: Mapping[str, ViewDefinition]) -> None:
    """Make the marked views in the file exactly ``views``; never raises for one bad view."""
    existing: dict[str, tuple[str, str | None]] = {}  # lower-case name -> (name, fingerprint)
    for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master"):
        mark = _MARKED.search(sql or "") if kind == "view" else None
        existing[str(name).lower()] = (str(name), mark.group(1) if mark else None)
    wanted: set[str] = set()
    for name, view in views.items():
        if name.lower() in wanted:
            log.warning("SQL view %s not created: SQLite names ignore case", name)
            continue
        current = existing.get(name.lower())
        if current is not None and current[1] is None:
            log.warning("SQL view %s not created: the database has another object so named", name)
            continue
        wanted.add(name.lower())
        sql = view_sql(name, view)
        mark = _MARKED.search(sql)
        if current is not None and mark is not None and current[1] == mark.group(1):
            continue
        conn.execute("SAVEPOINT lb_view")  # a failed rebuild keeps the old view
        try:
            if current is not None:
                conn.execute(f"DROP VIEW {quote(current[0])}")
            conn.execute(sql)
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK TO lb_view")
            log.warning("SQL view %s not created: %s", name, exc)
        conn.execute("RELEASE lb_view")
    for lower, (name, old_mark) in existing.items():
        if old_mark is not None and lower not in wanted:
            try:
                conn.execute(f"DROP VIEW {quote(name)}")
            except sqlite3.Error as exc:
                log.warning("SQL view %s not dropped: %s", name, exc)
