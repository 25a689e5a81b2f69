"""Opening a database written under number model 1 (every Python ``int`` stored as int64)
migrates its documents to model 2: an int64 that the schema does not declare ``v.int64()``
becomes the float64 number a Python ``int`` now is; declared ones, and any beyond 2**53, stay
int64; index entries follow, so index ranges with plain ints find the migrated documents."""

from __future__ import annotations

import json
from typing import Any

from livebase import Int64, define_schema, define_table, v
from livebase.engine import Engine
from livebase.engine.catalog import CATALOG_KEY
from livebase.values import encode_key

from .conftest import EngineFactory, location, mutate, read

SCHEMA = define_schema(
    {
        "typed": define_table(
            {"count": v.int64(), "score": v.number(), "extra": v.any(), "label": v.string()}
        ).index("by_score", ["score"]),
        "loose": define_table().index("by_n", ["n"]),
    }
)
BIG = 2**60
LOOSE_TABLE = define_table().index("by_n", ["n"])


def _written_under_model_1(make_engine: EngineFactory) -> tuple[Any, dict[str, str]]:
    """A database as the old code left it: every whole number an int64, and a catalog that
    does not name a number model."""
    engine = make_engine(define_schema({"typed": define_table(), "loose": define_table()}))
    ids = mutate(
        engine,
        lambda tx: {
            "typed": tx.insert(
                "typed",
                {
                    "count": Int64(3),
                    "score": Int64(7),
                    "extra": {"list": [Int64(1), 2.5], "big": Int64(BIG)},
                    "label": "a",
                },
            ),
            "loose": tx.insert("loose", {"n": Int64(5), "deep": [{"m": Int64(-2)}]}),
            "other": tx.insert("loose", {"n": 4.5}),
        },
    ).value
    with engine.storage.writer() as w:
        catalog = json.loads(w.get_global(CATALOG_KEY) or "{}")
        del catalog["valueModel"]
        w.set_global(CATALOG_KEY, json.dumps(catalog))
    path = location(engine)
    make_engine.close(engine)
    return path, ids


def _get(engine: Engine, doc_id: str) -> dict[str, Any]:
    doc = read(engine, lambda tx: tx.get(doc_id))
    assert doc is not None
    return doc


def test_undeclared_int64_becomes_a_number_and_declared_stays(make_engine: EngineFactory) -> None:
    path, ids = _written_under_model_1(make_engine)
    engine = make_engine(SCHEMA, path=path)

    typed = _get(engine, ids["typed"])
    assert type(typed["count"]) is Int64 and typed["count"] == 3  # v.int64(): kept
    assert type(typed["score"]) is int and typed["score"] == 7  # v.number(): a number
    assert type(typed["extra"]["list"][0]) is int  # v.any(): what a Python 1 means now
    assert type(typed["extra"]["big"]) is Int64 and typed["extra"]["big"] == BIG  # no loss
    loose = _get(engine, ids["loose"])
    assert type(loose["n"]) is int and loose["n"] == 5
    assert type(loose["deep"][0]["m"]) is int and loose["deep"][0]["m"] == -2
    assert engine.catalog.value_model == 2


def test_index_entries_follow_the_migration(make_engine: EngineFactory) -> None:
    path, ids = _written_under_model_1(make_engine)
    engine = make_engine(SCHEMA, path=path)

    def by_n(tx: Any) -> list[str]:
        return [d["_id"] for d in tx.query("loose").with_index("by_n", lambda q: q.gte("n", 4))]

    assert read(engine, by_n) == [ids["other"], ids["loose"]]  # 4.5 < 5: one number order
    scored = read(
        engine,
        lambda tx: tx.query("typed").with_index("by_score", lambda q: q.eq("score", 7)).collect(),
    )
    assert [d["_id"] for d in scored] == [ids["typed"]]
    index = engine.catalog.tables["loose"].indexes["by_n"].index_id
    with engine.storage.reader() as r:
        keys = [row.key for row in r.scan_index(index, b"", b"\xff\xff", reverse=False, limit=9)]
    assert any(k.startswith(encode_key((5,))) for k in keys)
    assert not any(k.startswith(encode_key((Int64(5),))) for k in keys)  # no stale int64 entry


def test_the_migration_runs_once_and_is_one_commit(make_engine: EngineFactory) -> None:
    path, ids = _written_under_model_1(make_engine)
    engine = make_engine(SCHEMA, path=path)
    first = engine.latest_ts
    make_engine.close(engine)

    engine = make_engine(SCHEMA, path=path)
    assert engine.latest_ts == first  # reopening rewrites nothing
    assert type(_get(engine, ids["loose"])["n"]) is int


def test_a_new_database_starts_on_the_current_model(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    with engine.storage.reader() as r:
        assert json.loads(r.get_global(CATALOG_KEY) or "{}")["valueModel"] == 2


def test_a_plain_number_in_an_index_range_on_an_int64_field_means_that_int64(
    make_engine: EngineFactory,
) -> None:
    schema = define_schema(
        {"counters": define_table({"n": v.int64()}).index("by_n", ["n"]), "loose": LOOSE_TABLE}
    )
    engine = make_engine(schema)
    mutate(engine, lambda tx: [tx.insert("counters", {"n": n}) for n in (1, 5, 9)])
    mutate(engine, lambda tx: tx.insert("loose", {"n": Int64(5)}))

    def found(table: str, build: Any) -> list[Any]:
        return read(engine, lambda tx: [d["n"] for d in tx.query(table).with_index("by_n", build)])

    assert found("counters", lambda q: q.eq("n", 5)) == [5]
    assert found("counters", lambda q: q.eq("n", 5.0)) == [5]
    assert found("counters", lambda q: q.gt("n", 1).lte("n", 9)) == [5, 9]
    # Without a schema saying int64, 5 is the number 5 and does not match the int64 5.
    assert found("loose", lambda q: q.eq("n", 5)) == []
    assert found("loose", lambda q: q.eq("n", Int64(5))) == [5]
