"""Schema changes on open: refused with the offending ids and nothing changed, or applied fully."""

from __future__ import annotations

import pytest

from livebase import Int64, define_schema, define_table, v
from livebase.engine import Engine
from livebase.engine.catalog import CATALOG_KEY
from livebase.errors import InvalidQueryError, SchemaMigrationError, ValidationError

from .conftest import EngineFactory, limits, location, mutate, raw_rows, read

LOOSE = define_schema({"users": define_table()})
STRICT = define_schema({"users": define_table({"name": v.string()}).index("by_name", ["name"])})


def snapshot(engine: Engine) -> tuple[str | None, list[tuple[int, bytes]], int]:
    """The stored catalog, every index entry and the number of documents."""
    with engine.storage.reader() as r:
        catalog = r.get_global(CATALOG_KEY)
    entries = [
        (int(i), bytes(k))
        for i, k in raw_rows(engine, "SELECT index_id, key FROM indexes ORDER BY 1, 2")
    ]
    docs = raw_rows(engine, "SELECT count(*) FROM documents")[0][0]
    return catalog, entries, int(docs)


def names(engine: Engine, index: str = "by_name") -> list[str]:
    return read(engine, lambda tx: [d["name"] for d in tx.query("users").with_index(index)])


def test_refused_schema_lists_offending_ids_and_changes_nothing(make_engine: EngineFactory) -> None:
    engine = make_engine(LOOSE)
    good = mutate(engine, lambda tx: tx.insert("users", {"name": "ok"})).value
    bad1 = mutate(engine, lambda tx: tx.insert("users", {"name": 42})).value
    bad2 = mutate(engine, lambda tx: tx.insert("users", {"nickname": "x"})).value
    before = snapshot(engine)
    path = location(engine)
    make_engine.close(engine)

    with pytest.raises(SchemaMigrationError) as info:
        make_engine(STRICT, path=path)
    message = str(info.value)
    assert bad1 in message and bad2 in message
    assert good not in message
    assert "name" in message
    assert info.value.code == "SchemaMigrationRefused"

    engine = make_engine(LOOSE, path=path)
    assert snapshot(engine) == before
    assert "by_name" not in engine.catalog.tables["users"].indexes
    with pytest.raises(InvalidQueryError):
        names(engine)
    assert len(read(engine, lambda tx: tx.query("users").collect())) == 3


def test_refused_set_schema_keeps_the_running_schema(make_engine: EngineFactory) -> None:
    engine = make_engine(LOOSE)
    mutate(engine, lambda tx: tx.insert("users", {"name": 1}))
    with pytest.raises(SchemaMigrationError):
        engine.set_schema(STRICT)
    assert engine.schema is LOOSE
    assert "by_name" not in engine.catalog.tables["users"].indexes
    # Writes still follow the old (loose) schema.
    mutate(engine, lambda tx: tx.insert("users", {"whatever": True}))


def test_many_offenders_are_summarised(make_engine: EngineFactory) -> None:
    engine = make_engine(LOOSE)
    mutate(engine, lambda tx: [tx.insert("users", {"name": i}) for i in range(25)])
    with pytest.raises(SchemaMigrationError) as info:
        engine.set_schema(STRICT)
    assert "25" in str(info.value)
    assert "more" in str(info.value)


def test_adding_an_index_backfills_it(make_engine: EngineFactory) -> None:
    engine = make_engine(define_schema({"users": define_table({"name": v.string()})}))
    mutate(engine, lambda tx: [tx.insert("users", {"name": n}) for n in ("carol", "alice", "bob")])
    engine = make_engine.reopen(engine, STRICT)
    assert names(engine) == ["alice", "bob", "carol"]
    found = read(
        engine,
        lambda tx: tx.query("users").with_index("by_name", lambda q: q.eq("name", "bob")).unique(),
    )
    assert found is not None and found["name"] == "bob"
    # And it is maintained for new writes.
    mutate(engine, lambda tx: tx.insert("users", {"name": "aaron"}))
    assert names(engine) == ["aaron", "alice", "bob", "carol"]


def test_backfill_reports_progress(make_engine: EngineFactory) -> None:
    # 2,500 inserts in one call: over a second on PostgreSQL when the machine is busy.
    engine = make_engine(LOOSE, settings=limits(max_function_seconds=30.0))
    mutate(engine, lambda tx: [tx.insert("users", {"name": f"u{i:04}"}) for i in range(2500)])
    seen: list[tuple[str, int, int]] = []
    report = engine.set_schema(
        STRICT, progress=lambda what, done, total: seen.append((what, done, total))
    )
    assert report.indexes_added == ["users.by_name"]
    assert report.documents_checked == 2500
    assert any("by_name" in what and done == total == 2500 for what, done, total in seen)
    assert len(names(engine)) == 2500


def test_removing_an_index_drops_it(make_engine: EngineFactory) -> None:
    engine = make_engine(STRICT)
    mutate(engine, lambda tx: [tx.insert("users", {"name": n}) for n in ("a", "b")])
    old_index = engine.catalog.tables["users"].indexes["by_name"].index_id
    engine = make_engine.reopen(
        engine, define_schema({"users": define_table({"name": v.string()})})
    )
    assert "by_name" not in engine.catalog.tables["users"].indexes
    with pytest.raises(InvalidQueryError):
        names(engine)
    with engine.storage.reader() as r:
        assert r.scan_index(old_index, b"", b"\xff\xff", reverse=False, limit=10) == []
    assert len(read(engine, lambda tx: tx.query("users").collect())) == 2


def test_removing_a_table_from_the_schema_keeps_documents_and_drops_indexes(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(STRICT)
    mutate(engine, lambda tx: tx.insert("users", {"name": "a"}))
    engine = make_engine.reopen(engine, define_schema({}))
    assert "by_name" not in engine.catalog.tables["users"].indexes
    assert [d["name"] for d in read(engine, lambda tx: tx.query("users").collect())] == ["a"]
    mutate(engine, lambda tx: tx.insert("users", {"anything": 1}))  # now schemaless


def test_changing_index_fields_rebuilds_it(make_engine: EngineFactory) -> None:
    fields = {"name": v.string(), "age": v.int64()}
    engine = make_engine(define_schema({"users": define_table(fields).index("by_x", ["name"])}))
    mutate(
        engine,
        lambda tx: [
            tx.insert("users", {"name": n, "age": a}) for n, a in (("a", 3), ("b", 1), ("c", 2))
        ],
    )
    engine = make_engine.reopen(
        engine, define_schema({"users": define_table(fields).index("by_x", ["age"])})
    )
    assert names(engine, "by_x") == ["b", "c", "a"]
    index_id = engine.catalog.tables["users"].indexes["by_x"].index_id
    with engine.storage.reader() as r:
        assert len(r.scan_index(index_id, b"", b"\xff\xff", reverse=False, limit=10)) == 3


def test_compatible_field_change_is_applied(make_engine: EngineFactory) -> None:
    engine = make_engine(STRICT)
    mutate(engine, lambda tx: tx.insert("users", {"name": "a"}))
    wider = define_schema(
        {
            "users": define_table(
                {"name": v.union(v.string(), v.int64()), "email": v.optional(v.string())}
            ).index("by_name", ["name"])
        }
    )
    engine = make_engine.reopen(engine, wider)
    mutate(engine, lambda tx: tx.insert("users", {"name": 7, "email": "x@y"}))
    with pytest.raises(ValidationError, match="email"):
        mutate(engine, lambda tx: tx.insert("users", {"name": "b", "email": 5}))
    assert names(engine) == [7, "a"]  # int64 sorts before string


def test_unchanged_schema_reopens_without_work(make_engine: EngineFactory) -> None:
    engine = make_engine(STRICT)
    mutate(engine, lambda tx: tx.insert("users", {"name": "a"}))
    before = snapshot(engine)
    path = location(engine)
    make_engine.close(engine)
    storage_engine = make_engine(STRICT, path=path)
    assert snapshot(storage_engine) == before


def test_migration_does_not_leave_values_that_contradict_the_schema(
    make_engine: EngineFactory,
) -> None:
    """A stored int64 under a new ``v.number()`` field: refuse the schema or convert the value,
    but never accept it and keep serving an int64 where the schema promises a float64."""
    engine = make_engine(LOOSE)
    doc_id = mutate(engine, lambda tx: tx.insert("users", {"score": Int64(5)})).value
    try:
        engine.set_schema(define_schema({"users": define_table({"score": v.number()})}))
    except SchemaMigrationError as exc:
        assert doc_id in str(exc)
        return
    score = read(engine, lambda tx: tx.get(doc_id))["score"]  # type: ignore[index]
    assert type(score) is int, f"schema says float64 but the document holds {score!r}"
