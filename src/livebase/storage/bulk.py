"""SQL for the bulk interface (``dump``/``count``/``load``/``clear``), shared by the backends.

Both store the same four logical tables under different names (SQLite ``documents``,
PostgreSQL ``lb_documents``) and placeholders (``?``, ``%s``); everything else is the same SQL,
including the row-value comparison that pages through a table in key order.
"""

from __future__ import annotations

import orjson

from livebase.storage.base import KEY_WIDTH, BulkTable, Row

COLUMNS: dict[BulkTable, tuple[str, ...]] = {
    "documents": ("id", "table_number", "value"),
    "indexes": ("index_id", "key", "doc_id"),
    "commits": ("ts", "entry"),
    "globals": ("key", "value"),
}


def dump_sql(table: BulkTable, *, prefix: str, param: str, after: bool) -> str:
    """``SELECT`` of at most ``param`` rows in key order; with ``after``, the key columns'
    values come first among the parameters."""
    columns = COLUMNS[table]
    key = columns[: KEY_WIDTH[table]]
    where = ""
    if after:
        where = f" WHERE ({', '.join(key)}) > ({', '.join([param] * len(key))})"
    return (
        f"SELECT {', '.join(columns)} FROM {prefix}{table}{where} "
        f"ORDER BY {', '.join(key)} LIMIT {param}"
    )


def insert_sql(table: BulkTable, *, prefix: str, param: str) -> str:
    columns = COLUMNS[table]
    values = ", ".join([param] * len(columns))
    return f"INSERT INTO {prefix}{table} ({', '.join(columns)}) VALUES ({values})"


_PG_TYPES: dict[BulkTable, tuple[str, ...]] = {
    "documents": ("text", "int4", "text"),
    "indexes": ("int4", "bytea", "text"),
    "commits": ("int8", "text"),
    "globals": ("text", "text"),
}


def json_insert_sql(table: BulkTable, *, prefix: str) -> str:
    """PostgreSQL: insert a whole batch from one JSON array of rows (``json_rows``). As fast
    as ``COPY``, which cannot run in the writer's pipeline mode, and many times faster than
    array parameters or multi-row ``VALUES``, whose client-side adaptation dominates."""
    values = ", ".join(
        f"decode(r->>{i}, 'hex')" if kind == "bytea" else f"(r->>{i})::{kind}"
        for i, kind in enumerate(_PG_TYPES[table])
    )
    return (
        f"INSERT INTO {prefix}{table} ({', '.join(COLUMNS[table])}) "
        f"SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS r"
    )


def json_rows(rows: list[Row]) -> str:
    """The parameter of ``json_insert_sql``: bytes as hex text."""
    return orjson.dumps(
        [[x.hex() if isinstance(x, bytes) else x for x in r] for r in rows]
    ).decode()


def count_sql(table: BulkTable, *, prefix: str) -> str:
    COLUMNS[table]  # only the four known tables: the name goes into SQL text
    return f"SELECT count(*) FROM {prefix}{table}"
