"""The SQL views over app data on PostgreSQL, in the app's schema next to the ``lb_*`` tables.

Each document is parsed to ``jsonb`` once per row (a ``LATERAL`` subquery that the planner does
not inline) and every column is guarded by the JSON type it expects, so a document that does
not fit its schema (schema validation off) yields NULLs instead of a failing query. int64
values are decoded to ``bigint`` and bytes to ``bytea``. A view is marked by its comment; only
marked views are replaced or dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import psycopg

from livebase.storage.views import MARKER, ColumnKind, ViewColumn, ViewDefinition, fingerprint

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_NAME_BYTES = 63  # PostgreSQL truncates longer identifiers, which could collide
_SPECIAL_FLOATS = (
    ("AAAAAAAA+H8=", "NaN"),
    ("AAAAAAAA8H8=", "Infinity"),
    ("AAAAAAAA8P8=", "-Infinity"),
    ("AAAAAAAAAIA=", "-0"),
)
_INT64 = " | ".join(f"(get_byte(b, {j})::int8 << {8 * j})" for j in range(8))
# jsonb cannot hold U+0000, which a Convex string may contain; such a document is shown with
# U+FFFD instead of failing every query on the view.
_DOC = (
    r"CASE WHEN strpos(d.value, '\u0000') = 0 THEN d.value::jsonb "
    r"ELSE replace(d.value, '\u0000', '\ufffd')::jsonb END"
)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column(column: ViewColumn) -> str:
    x = f"j.doc->{_literal(column.field)}"
    kind = column.kind
    if kind is ColumnKind.TEXT:
        return f"CASE WHEN jsonb_typeof({x}) = 'string' THEN j.doc->>{_literal(column.field)} END"
    if kind is ColumnKind.BOOLEAN:
        return f"CASE WHEN jsonb_typeof({x}) = 'boolean' THEN ({x})::boolean END"
    if kind is ColumnKind.FLOAT:
        special = " ".join(f"WHEN '{b64}' THEN '{v}'::float8" for b64, v in _SPECIAL_FLOATS)
        return (
            f"CASE jsonb_typeof({x}) WHEN 'number' THEN ({x})::text::float8 "
            f"WHEN 'object' THEN CASE {x}->>'$float' {special} END END"
        )
    if kind is ColumnKind.INT64:
        return (
            f"(SELECT CASE WHEN length(b) = 8 THEN {_INT64} END "
            f"FROM (SELECT decode({x}->>'$integer', 'base64') AS b) AS i)"
        )
    if kind is ColumnKind.BYTES:
        return f"decode({x}->>'$bytes', 'base64')"
    return x


def view_sql(name: str, view: ViewDefinition) -> str:
    """``CREATE VIEW`` for table ``name``; fields that cannot be expressed are left out (logged)."""
    columns = ['d.id AS "_id"', "(j.doc->>'_creationTime')::float8 AS \"_creationTime\""]
    taken = {"_id", "_creationTime"}
    if view.columns is None:
        columns.append('j.doc AS "document"')
    for column in view.columns or ():
        if len(column.field.encode()) > MAX_NAME_BYTES or column.field in taken:
            log.warning(
                "SQL view %s: field %r has no column (name not expressible)", name, column.field
            )
            continue
        taken.add(column.field)
        columns.append(f"{_column(column)} AS {quote(column.field)}")
    return (
        f"CREATE VIEW {quote(name)} AS SELECT {', '.join(columns)} "
        f"FROM lb_documents AS d CROSS JOIN LATERAL (SELECT {_DOC} AS doc OFFSET 0) AS j "
        f"WHERE d.table_number = {view.table_number}"
    )


def _existing(cur: psycopg.Cursor[Any]) -> dict[str, str | None]:
    """Relations in the schema views are created in -> the fingerprint of a marked view (None
    for anything else: a table, a user's own view)."""
    rows = cur.execute(
        "SELECT c.relname, c.relkind, obj_description(c.oid, 'pg_class') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
    ).fetchall()
    out: dict[str, str | None] = {}
    for name, kind, comment in rows:
        marked = kind == "v" and isinstance(comment, str) and comment.startswith(MARKER + " ")
        out[str(name)] = comment.removeprefix(MARKER + " ") if marked else None
    return out


def _guarded(cur: psycopg.Cursor[Any], work: Callable[[], T], failure: str) -> T | None:
    """``work()`` all or nothing, in a savepoint, so a failure leaves the surrounding write
    transaction usable; None (and a logged warning) if it failed."""
    cur.execute("SAVEPOINT lb_view")
    try:
        # The writer may be in pipeline mode, where an error surfaces only at the next sync
        # and then aborts the pipeline: a nested pipeline syncs on exit, so the error is raised
        # here, inside the savepoint, and the outer pipeline stays usable.
        with cur.connection.pipeline():
            return work()
    except psycopg.Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT lb_view")
        log.warning("%s: %s", failure, str(exc).strip())
        return None
    finally:
        cur.execute("RELEASE SAVEPOINT lb_view")


def _run(cur: psycopg.Cursor[Any], statements: list[str]) -> Callable[[], bool]:
    def work() -> bool:
        for statement in statements:
            cur.execute(statement)
        return True

    return work


def replace_views(cur: psycopg.Cursor[Any], views: Mapping[str, ViewDefinition]) -> None:
    """Make the marked views in the current schema exactly ``views``; never raises for a
    database error."""
    existing = _guarded(cur, lambda: _existing(cur), "SQL views not updated")
    if existing is None:
        return
    for name, view in views.items():
        if len(name.encode()) > MAX_NAME_BYTES:
            log.warning("SQL view %s not created: name longer than %d bytes", name, MAX_NAME_BYTES)
            continue
        if name in existing and existing[name] is None:
            log.warning("SQL view %s not created: the schema has another object so named", name)
            continue
        sql = view_sql(name, view)
        mark = fingerprint(sql)
        if existing.get(name) == mark:
            continue
        statements = [f"DROP VIEW {quote(name)}"] if name in existing else []
        statements += [sql, f"COMMENT ON VIEW {quote(name)} IS '{MARKER} {mark}'"]
        _guarded(cur, _run(cur, statements), f"SQL view {name} not created")
    for name, old_mark in existing.items():
        if old_mark is not None and name not in views:
            _guarded(cur, _run(cur, [f"DROP VIEW {quote(name)}"]), f"SQL view {name} not dropped")
