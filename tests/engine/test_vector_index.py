"""Vector search answered by the storage's vector index, on every backend: the index reads only
its candidates (not the table), is written in the document's transaction (a failed mutation
leaves nothing in it), is rebuilt when the storage lacks it, keeps exact float64 scores and order
where float32 cannot tell documents apart, and a read at an earlier timestamp still scans. On
SQLite without sqlite-vec searches scan with one warning, and the index missed meanwhile is
rebuilt when sqlite-vec is back."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from livebase.engine import Engine, Transaction
from livebase.engine.vector_search import candidate_margin, vector_search
from livebase.storage import sqlite_vec_loader
from livebase.storage.vector_types import VectorRequest

from .conftest import BACKENDS, EngineFactory, mutate, read
from .test_vector_search import DIMS, corpus, expected, insert, schema


@pytest.fixture(params=[*BACKENDS, "pgvector"])
def backend(request: pytest.FixtureRequest) -> str:
    """Vector search also runs on PostgreSQL 16 with pgvector (``tests/support/pgvector_server``),
    the layout the suite's main server cannot offer."""
    return str(request.param)


def search_counting(engine: Engine, q: list[float], **kw: Any) -> tuple[list[Any], int]:
    """The results and how many documents the search read."""

    def body(tx: Transaction) -> tuple[list[Any], int]:
        return vector_search(tx, "notes", "by_embedding", q, **kw), tx.documents_scanned

    return read(engine, body)


def index_id(engine: Engine) -> int:
    return engine.catalog.tables["notes"].vector_indexes["by_embedding"].index_id


def indexed_ids(engine: Engine) -> list[str] | None:
    """Every document id in the storage's vector index (None: no index to search)."""
    with engine.storage.reader() as r:
        found = r.vector_search(index_id(engine), VectorRequest((1.0,) * DIMS, "cosine", 4096))
    return None if found is None else sorted(c.doc_id for c in found)


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_the_index_reads_only_its_candidates(make_engine: EngineFactory, metric: str) -> None:
    engine = make_engine(schema(metric))
    docs = corpus(300, seed=21)
    ids = insert(engine, docs)
    q = [0.1 * i - 0.3 for i in range(DIMS)]
    got, scanned = search_counting(engine, q, limit=5)
    want = expected(docs, ids, q, metric, 5, lambda d: True)
    assert [g["_id"] for g in got] == [w[0] for w in want]
    assert [g["_score"] for g in got] == pytest.approx([w[1] for w in want], abs=1e-12)
    assert scanned <= 5 + candidate_margin(5), "the exact scan would read all 300"
    got, scanned = search_counting(engine, q, limit=4, filter=lambda f: f.eq("kind", "c"))
    want = expected(docs, ids, q, metric, 4, lambda d: d["kind"] == "c")
    assert [g["_id"] for g in got] == [w[0] for w in want]
    assert scanned <= 4 + candidate_margin(4)


def test_a_failed_mutation_leaves_nothing_in_the_index(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    kept = insert(engine, corpus(2))

    def body(tx: Transaction) -> None:
        tx.insert("notes", {"embedding": [1.0] * DIMS, "kind": "a"})
        tx.delete(kept[0])
        tx.patch(kept[1], {"embedding": [2.0] * DIMS})
        raise RuntimeError("the mutation fails after writing")

    with pytest.raises(RuntimeError):
        mutate(engine, body)
    assert indexed_ids(engine) == sorted(kept)
    top = read(engine, lambda tx: vector_search(tx, "notes", "by_embedding", [1.0] * DIMS, 1))
    assert top[0]["_score"] < 0.999  # not the refused [2.0] * DIMS


def test_writes_keep_the_index_in_step(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    a, b, c = insert(engine, corpus(3))
    mutate(engine, lambda tx: tx.delete(a))
    mutate(engine, lambda tx: tx.replace(b, {"kind": "b"}))  # no vector: out of the index
    mutate(engine, lambda tx: tx.replace(c, {"embedding": [3.0] * DIMS, "kind": "z"}))
    assert indexed_ids(engine) == [c]
    mutate(engine, lambda tx: tx.patch(b, {"embedding": [1.0] * DIMS}))
    assert indexed_ids(engine) == sorted([b, c])
    hits = read(
        engine,
        lambda tx: vector_search(
            tx, "notes", "by_embedding", [1.0] * DIMS, 5, lambda f: f.eq("kind", "z")
        ),
    )
    assert [h["_id"] for h in hits] == [c]


def test_an_index_the_storage_lacks_is_rebuilt_on_open(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    ids = insert(engine, corpus(40))
    with engine.storage.writer() as w:
        w.drop_vector_index(index_id(engine))
    assert indexed_ids(engine) is None
    engine = make_engine.reopen(engine)
    assert indexed_ids(engine) == sorted(ids)
    _, scanned = search_counting(engine, [1.0] * DIMS, limit=3)
    assert scanned <= 3 + candidate_margin(3)


def test_near_ties_keep_the_exact_float64_order(make_engine: EngineFactory) -> None:
    """Vectors a float32 index cannot tell apart: the results are still the float64 order."""
    engine = make_engine(schema("dot"))
    base = [0.3, -0.7, 0.2, 0.9, -0.1, 0.4, 0.6, -0.5]
    rnd = random.Random(4)
    docs = [
        {"embedding": [x + rnd.uniform(-1, 1) * 1e-9 for x in base], "kind": "a", "n": i}
        for i in range(12)
    ] + corpus(100, seed=9)
    ids = insert(engine, docs)
    got, _ = search_counting(engine, base, limit=6)
    want = expected(docs, ids, base, "dot", 6, lambda d: True)
    assert [g["_id"] for g in got] == [w[0] for w in want]
    assert [g["_score"] for g in got] == [w[1] for w in want]


def test_a_read_at_an_earlier_timestamp_scans(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    first = insert(engine, corpus(3))
    ts = engine.latest_ts
    insert(engine, corpus(3, seed=8))
    hits, _ = engine.read_at(
        ts, lambda tx: vector_search(tx, "notes", "by_embedding", [1.0] * DIMS, 10)
    )
    assert sorted(h["_id"] for h in hits) == sorted(first)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_without_sqlite_vec_searches_scan_with_one_warning_and_the_index_catches_up(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(schema())
    before = insert(engine, corpus(5))
    with monkeypatch.context() as m:
        m.setattr(sqlite_vec_loader, "load", lambda conn: False)
        m.setattr(sqlite_vec_loader, "_failure", "this test blocked it")
        m.setattr(sqlite_vec_loader, "_warned", False)
        with caplog.at_level(logging.WARNING, logger="livebase.storage"):
            engine = make_engine.reopen(engine)
            assert not engine.storage.vectors
            during = insert(engine, corpus(5, seed=3))
            mutate(engine, lambda tx: tx.delete(before[0]))
            docs = (corpus(5) + corpus(5, seed=3))[1:]
            ids = before[1:] + during
            q = [0.5] * DIMS
            want = expected(docs, ids, q, "cosine", 4, lambda d: True)
            for _ in range(3):
                got, scanned = search_counting(engine, q, limit=4)
                assert [g["_id"] for g in got] == [w[0] for w in want]
                assert scanned == 9  # the exact scan read the table
        warnings = [r for r in caplog.records if "sqlite-vec could not be loaded" in r.message]
        assert len(warnings) == 1
        assert "this test blocked it" in warnings[0].message
        assert "exact scan" in warnings[0].message
    engine = make_engine.reopen(engine)
    assert engine.storage.vectors
    assert indexed_ids(engine) == sorted(before[1:] + during)
    _, scanned = search_counting(engine, [0.5] * DIMS, limit=2)
    assert scanned <= 2 + candidate_margin(2)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_read_only_connection_opened_elsewhere_finds_the_index(
    make_engine: EngineFactory,
) -> None:
    """A query worker reads the file over its own read-only connection: opened after
    ``sqlite_vec_loader.prepare()``, a reader on it finds that sqlite-vec is there and searches
    the index."""
    import sqlite3

    from livebase.storage.sqlite import _SqliteReader

    engine = make_engine(schema())
    ids = insert(engine, corpus(6))
    path = engine.storage.path
    request = VectorRequest((1.0,) * DIMS, "cosine", 10)
    sqlite_vec_loader.prepare()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN")
        found = _SqliteReader(conn).vector_search(index_id(engine), request)
        conn.execute("COMMIT")
    finally:
        conn.close()
    assert found is not None and sorted(c.doc_id for c in found) == sorted(ids)


def test_a_database_from_before_vector_indexes_in_storage_gets_them_on_open(
    make_engine: EngineFactory,
) -> None:
    """A catalog written by the exact-scan version lists no vector index although the schema
    has one: opening the database builds it from the documents."""
    import json

    from livebase.engine.catalog import CATALOG_KEY

    engine = make_engine(schema())
    ids = insert(engine, corpus(7))
    with engine.storage.writer() as w:
        w.drop_vector_index(index_id(engine))
        catalog = json.loads(w.get_global(CATALOG_KEY) or "{}")
        for table in catalog["tables"].values():
            table.pop("vectorIndexes", None)
        w.set_global(CATALOG_KEY, json.dumps(catalog, sort_keys=True))
    engine = make_engine.reopen(engine)
    assert indexed_ids(engine) == sorted(ids)


def test_each_server_gets_the_best_layout_it_offers(
    make_engine: EngineFactory, backend: str
) -> None:
    """sqlite-vec on SQLite; ``cube`` on the suite's PostgreSQL 15 (no pgvector there); a
    ``vector(N)`` column on the PostgreSQL 16 that has pgvector."""
    engine = make_engine(schema())
    insert(engine, corpus(5))
    if backend == "sqlite":
        assert engine.storage.vectors  # type: ignore[attr-defined]
        return
    with engine.storage.reader() as r:
        layout = r._cur.execute(  # type: ignore[attr-defined]
            "SELECT layout FROM lb_vectors_meta WHERE index_id = %s", (index_id(engine),)
        ).fetchone()
    assert layout == ({"postgres": "cube", "pgvector": "pgvector"}[backend],)
