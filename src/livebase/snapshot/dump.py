"""Reading a deployment for export: its user tables and their documents as of one commit.

The export pins the newest commit timestamp when it starts and reads every page of every table
as of that timestamp (``Engine.read_at``), so the ZIP is one consistent snapshot even while
writes go on; a page is a short read, so a big table never sits in memory. Historical reads
undo at most ``MAX_COMMITS_BACK`` commits: an export that overlaps more writes than that fails
with ``TimestampTooOld`` and can simply be run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livebase.engine.catalog import BY_CREATION_TIME, TableInfo
from livebase.engine.database import Engine
from livebase.engine.transaction import Transaction

PAGE = 1000


@dataclass(frozen=True)
class Page:
    documents: list[str]  # stored wire-JSON texts
    after: bytes | None  # where the next page starts; None: the table is done


def user_tables(engine: Engine) -> list[TableInfo]:
    """The app's tables (not ``_scheduled_functions`` and the other system tables), by number."""
    tables = [t for t in engine.catalog.tables.values() if not t.name.startswith("_")]
    return sorted(tables, key=lambda t: t.number)


def schema_json(engine: Engine) -> dict[str, Any]:
    """The app's schema as JSON, without the system tables."""
    data = engine.schema.to_json()
    tables = data.get("tables")
    if isinstance(tables, dict):
        data["tables"] = {k: v for k, v in tables.items() if not k.startswith("_")}
    return data


def read_page(engine: Engine, ts: int, table: str, after: bytes | None, limit: int = PAGE) -> Page:
    """Up to ``limit`` documents of ``table`` as of ``ts``, in ``_creationTime`` order, starting
    after index key ``after``."""

    def scan(tx: Transaction) -> Page:
        info = tx.catalog.tables.get(table)
        if info is None:
            return Page([], None)
        lo = b"" if after is None else after + b"\x00"
        rows = tx.store.scan_index(
            info.indexes[BY_CREATION_TIME].index_id, lo, b"\xff\xff", reverse=False, limit=limit
        )
        more = rows[-1].key if len(rows) == limit else None
        return Page([r.document for r in rows], more)

    page, _ = engine.read_at(ts, scan)
    return page
