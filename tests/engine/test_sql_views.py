"""Read-only SQL views over app data, on both backends, queried the way outside tools do: a
separate plain ``sqlite3`` connection (no Livebase functions registered) or a ``psycopg``
connection, compared with the documents as the engine returns them."""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

import psycopg
import pytest

from livebase import Int64, define_schema, define_table, v
from livebase.engine import Engine
from livebase.storage.postgres import PostgresStorage, split_url
from livebase.storage.sqlite import SqliteStorage
from livebase.values.wire import to_wire

from .conftest import EngineFactory, mutate, read

ITEMS = {
    "name": v.string(),
    "count": v.int64(),
    "price": v.number(),
    "active": v.boolean(),
    "tags": v.array(v.string()),
    "meta": v.optional(v.object({"a": v.string()})),
    "blob": v.optional(v.bytes()),
    "status": v.union(v.literal("open"), v.literal("closed")),
    "owner": v.optional(v.id("people")),
    "note": v.optional(v.union(v.string(), v.null())),
    "mixed": v.optional(v.union(v.string(), v.int64())),
}
SCHEMA = define_schema(
    {
        "items": define_table(ITEMS),
        "people": define_table({"name": v.string()}),
        "free": define_table(None),
    }
)
INT64_EDGES = [0, 1, -1, 255, 256, -256, 2**53 + 1, 2**63 - 1, -(2**63), 1234567890123456789]
FLOATS = [0.0, 1.5, -2.25, 1e300, -1e-300, math.inf, -math.inf, math.nan, 3.0]


def view_rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts, over a fresh connection that knows nothing of Livebase."""
    storage: Any = engine.storage
    if isinstance(storage, SqliteStorage):
        conn = sqlite3.connect(f"file:{storage.path}?mode=ro", uri=True)
        try:
            cur = conn.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            conn.close()
    assert isinstance(storage, PostgresStorage)
    conninfo, schema = split_url(storage.url)
    with psycopg.connect(conninfo, options=f"-c search_path={schema}") as pg:
        pg_cur = pg.execute(sql)
        assert pg_cur.description is not None
        names = [d.name for d in pg_cur.description]
        return [dict(zip(names, row, strict=True)) for row in pg_cur.fetchall()]


def view_names(engine: Engine) -> set[str]:
    if isinstance(engine.storage, SqliteStorage):
        rows = view_rows(engine, "SELECT name FROM sqlite_master WHERE type = 'view'")
    else:
        rows = view_rows(
            engine,
            "SELECT table_name AS name FROM information_schema.views "
            "WHERE table_schema = current_schema()",
        )
    return {r["name"] for r in rows}


def _column_names(engine: Engine, view: str) -> list[str]:
    if isinstance(engine.storage, SqliteStorage):
        return [
            r["name"] for r in view_rows(engine, f"SELECT name FROM pragma_table_info('{view}')")
        ]
    return [
        r["column_name"]
        for r in view_rows(
            engine,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            f"current_schema() AND table_name = '{view}' ORDER BY ordinal_position",
        )
    ]


def _same_float(got: Any, want: float, backend: str) -> bool:
    if math.isnan(want):
        return got is None if backend == "sqlite" else math.isnan(got)  # SQLite has no NaN
    return bool(got == want) and math.copysign(1, got) == math.copysign(1, want)


def _json(got: Any) -> Any:
    """A JSON column's value: text on SQLite, already parsed (jsonb) on PostgreSQL."""
    return json.loads(got) if isinstance(got, str) and got[:1] in '[{"' else got


def _insert_items(engine: Engine) -> None:
    def write(tx: Any) -> None:
        person = tx.insert("people", {"name": "ada"})
        for i, (n, x) in enumerate(zip(INT64_EDGES, FLOATS * 2, strict=False)):
            doc: dict[str, Any] = {
                "name": f"item {i} ünï'\"",
                "count": n,
                "price": x,
                "active": i % 2 == 0,
                "tags": [f"t{i}", "x"],
                "status": "open" if i % 3 else "closed",
            }
            if i % 2:
                doc.update(meta={"a": "b"}, blob=bytes([0, i, 255]), owner=person, note=None)
            else:
                doc.update(note="a note", mixed=n if i % 4 else "text")
            tx.insert("items", doc)
        tx.insert("free", {"anything": {"deep": [1, "x"]}, "big": 2**40})

    mutate(engine, write)


def test_views_match_the_documents(make_engine: EngineFactory, backend: str) -> None:
    engine = make_engine(SCHEMA)
    _insert_items(engine)
    docs = read(engine, lambda tx: tx.query("items").collect())
    rows = {r["_id"]: r for r in view_rows(engine, "SELECT * FROM items")}
    assert set(rows) == {d["_id"] for d in docs}
    assert _column_names(engine, "items") == ["_id", "_creationTime", *ITEMS]
    for doc in docs:
        row = rows[doc["_id"]]
        assert row["_creationTime"] == doc["_creationTime"]
        assert row["name"] == doc["name"]
        assert row["count"] == doc["count"] and type(row["count"]) is int
        assert _same_float(row["price"], doc["price"], backend), (row["price"], doc["price"])
        assert bool(row["active"]) is doc["active"]
        assert _json(row["tags"]) == doc["tags"]
        assert row["status"] == doc["status"]
        assert row["owner"] == doc.get("owner")
        if "meta" in doc:
            assert _json(row["meta"]) == {"a": "b"}
            blob = row["blob"]
            if backend == "sqlite":  # no base64 decoder in plain SQLite: the base64 text
                assert blob == to_wire(doc["blob"])["$bytes"]
            else:
                assert bytes(blob) == doc["blob"]
            assert row["note"] is None and row["mixed"] is None
        else:
            assert row["meta"] is None and row["blob"] is None
            assert row["note"] == "a note"
            # A union of several kinds is JSON, in Convex wire form.
            assert _json(row["mixed"]) == to_wire(doc["mixed"])

    # A table without a validator: the whole document as JSON.
    (free,) = view_rows(engine, "SELECT * FROM free")
    assert list(free) == ["_id", "_creationTime", "document"]
    assert _json(free["document"])["anything"] == to_wire({"deep": [1, "x"]})
    assert _json(free["document"])["big"] == to_wire(2**40)

    # Filters and joins work like on any table.
    hits = view_rows(engine, "SELECT count(*) AS n FROM items WHERE status = 'closed'")
    assert hits[0]["n"] == sum(1 for d in docs if d["status"] == "closed")
    joined = view_rows(
        engine, 'SELECT p.name FROM items i JOIN people p ON p."_id" = i.owner LIMIT 1'
    )
    assert joined == [{"name": "ada"}]


def test_int64_extremes_decode_exactly(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    _insert_items(engine)
    got = sorted(r["count"] for r in view_rows(engine, "SELECT count FROM items"))
    assert got == sorted(INT64_EDGES)


def test_schema_changes_follow_into_the_views(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    _insert_items(engine)
    assert {"items", "people", "free"} <= view_names(engine)

    changed = {k: f for k, f in ITEMS.items() if k not in ("tags", "mixed")}
    changed["count"] = v.union(v.int64(), v.string())  # becomes JSON
    changed["extra"] = v.optional(v.string())
    engine.set_schema(define_schema({"items": define_table(changed)}, schema_validation=False))

    cols = _column_names(engine, "items")
    assert "tags" not in cols and "mixed" not in cols and cols[-1] == "extra"
    names = view_names(engine)
    # "free" left the schema and holds a document: still readable, as JSON; "people" too.
    assert {"items", "free", "people"} <= names
    assert _column_names(engine, "people") == ["_id", "_creationTime", "document"]
    counts = [_json(r["count"])["$integer"] for r in view_rows(engine, "SELECT count FROM items")]
    assert sorted(counts) == sorted(to_wire(Int64(n))["$integer"] for n in INT64_EDGES)

    # A table that leaves the schema empty loses its view.
    loose = {"items": define_table(changed)}
    engine.set_schema(define_schema({**loose, "gone": define_table(None)}, schema_validation=False))
    assert "gone" in view_names(engine)
    engine.set_schema(define_schema(loose, schema_validation=False))
    assert "gone" not in view_names(engine)


def test_reopening_keeps_views_without_rebuilding(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    ident = _view_identity(engine)
    engine = make_engine.reopen(engine)
    assert _view_identity(engine) == ident


def _view_identity(engine: Engine) -> Any:
    if isinstance(engine.storage, SqliteStorage):
        return view_rows(engine, "SELECT name, sql FROM sqlite_master WHERE type = 'view'")
    return view_rows(
        engine,
        "SELECT c.relname, c.oid::int AS oid FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'v' "
        "ORDER BY 1",
    )


def test_odd_names_and_clashes_never_break_start(
    make_engine: EngineFactory, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    url = make_engine.path()
    # Objects the views must not touch: a user's own table and view.
    own = [
        "CREATE TABLE clash (x INTEGER)",
        "CREATE VIEW mine AS SELECT 1 AS one",
    ]
    make_engine.close(engine)
    if backend == "sqlite":
        conn = sqlite3.connect(url)
        for sql in own:
            conn.execute(sql)
        conn.commit()
        conn.close()
    else:
        conninfo, schema = split_url(url)
        with psycopg.connect(conninfo, options=f"-c search_path={schema}") as pg:
            # A type name is taken too, and only CREATE VIEW finds out: the failure must not
            # abort the surrounding (pipelined) write transaction.
            for sql in [*own, "CREATE TYPE etype AS ENUM ('a')"]:
                pg.execute(sql)
    fields = {
        "with space": v.string(),
        "it's": v.string(),
        'quo"te': v.string(),
        "x" * 70: v.string(),
    }
    odd = define_schema(
        {
            "clash": define_table({"a": v.string()}),
            "documents": define_table({"a": v.string()}),
            "etype": define_table({"a": v.string()}),
            "odd": define_table(fields),
            "L" + "o" * 63: define_table(None),
        }
    )
    engine = make_engine(odd, path=url)
    mutate(engine, lambda tx: tx.insert("odd", {name: name for name in fields}))
    engine = make_engine.reopen(engine)

    names = view_names(engine)
    assert "mine" in names and "clash" not in names
    (row,) = view_rows(engine, "SELECT * FROM odd")
    assert row["with space"] == "with space" and row["it's"] == "it's"
    if backend == "sqlite":
        assert 'quo"te' not in row and "documents" not in names  # storage's own table
        assert row["x" * 70] == "x" * 70
    else:
        assert row['quo"te'] == 'quo"te' and "documents" in names and "etype" not in names
        assert 'SQL view etype not created: type "etype" already exists' in caplog.text
        assert "x" * 70 not in row  # longer than PostgreSQL's 63-byte names
    assert "not created" in caplog.text
