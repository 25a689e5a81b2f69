"""SQL for the bulk interface (``dump``/``count``/``load``/``clear``), shared by the backends.

Both store the same four logical tables under different names (SQLite ``documents``,
PostgreSQL ``lb_documents``) and placeholders (``?``, ``%s``); everything else is the same SQL,
including the row-value comparison that pages through a table in key order.
"""

from __future__ import annotations

from livebase.storage.base import KEY_WIDTH, BulkTable

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


def copy_sql(table: BulkTable, *, prefix: str) -> str:
    return f"COPY {prefix}{table} ({', '.join(COLUMNS[table])}) FROM STDIN"


def count_sql(table: BulkTable, *, prefix: str) -> str:
    COLUMNS[table]  # only the four known tables: the name goes into SQL text
    return f"SELECT count(*) FROM {prefix}{table}"
