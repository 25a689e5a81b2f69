"""Vector search, one conformance suite on every backend: the same corpus gives the same ids in
the same order and the same scores on SQLite and PostgreSQL; cosine and dot product; filters;
bad input; a schema change adding an index covers existing documents."""

from __future__ import annotations

import math
import random
import re
from typing import Any

import pytest

from livebase import define_schema, define_table, v
from livebase.engine import Engine, Transaction
from livebase.engine.vector_search import vector_search
from livebase.errors import InvalidQueryError, ValidationError
from livebase.schema.definition import SchemaDefinition

from .conftest import BACKENDS, EngineFactory, mutate, read


@pytest.fixture(params=[*BACKENDS, "pgvector"])
def backend(request: pytest.FixtureRequest) -> str:
    """Vector search also runs on PostgreSQL 16 with pgvector (``tests/support/pgvector_server``),
    the layout the suite's main server cannot offer."""
    return str(request.param)

DIMS = 8


def schema(metric: str = "cosine", *, with_index: bool = True) -> SchemaDefinition:
    table = define_table(
        {
            "embedding": v.optional(v.array(v.float64())),
            "kind": v.optional(v.string()),
            "n": v.optional(v.any()),
        }
    ).index("by_kind", ["kind"])
    if with_index:
        table = table.vector_index(
            "by_embedding",
            vector_field="embedding",
            dimensions=DIMS,
            filter_fields=["kind", "n"],
            metric=metric,
        )
    return define_schema({"notes": table, "other": define_table({"x": v.optional(v.any())})})


def corpus(count: int = 60, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    kinds = ["a", "b", "c"]
    return [
        {
            "embedding": [rnd.uniform(-1, 1) for _ in range(DIMS)],
            "kind": kinds[i % 3],
            "n": i,
        }
        for i in range(count)
    ]


def insert(engine: Engine, docs: list[dict[str, Any]]) -> list[str]:
    return mutate(engine, lambda tx: [tx.insert("notes", dict(d)) for d in docs]).value


def search(engine: Engine, vector: list[float], **kw: Any) -> list[dict[str, Any]]:
    return read(engine, lambda tx: vector_search(tx, "notes", "by_embedding", vector, **kw))


def expected(
    docs: list[dict[str, Any]], ids: list[str], q: list[float], metric: str, k: int, keep: Any
) -> list[tuple[str, float]]:
    out = []
    for doc, doc_id in zip(docs, ids, strict=True):
        if not keep(doc):
            continue
        dot = sum(a * b for a, b in zip(q, doc["embedding"], strict=True))
        if metric == "cosine":
            dot /= math.sqrt(sum(a * a for a in q)) * math.sqrt(
                sum(b * b for b in doc["embedding"])
            )
        out.append((doc_id, dot))
    out.sort(key=lambda t: (-t[1], t[0]))
    return out[:k]


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_ranking_matches_a_brute_force_answer(make_engine: EngineFactory, metric: str) -> None:
    engine = make_engine(schema(metric))
    docs = corpus()
    ids = insert(engine, docs)
    q = [0.3, -0.2, 0.9, 0.1, 0.0, -0.5, 0.25, 0.7]
    got = search(engine, q, limit=7)
    want = expected(docs, ids, q, metric, 7, lambda d: True)
    assert [g["_id"] for g in got] == [w[0] for w in want]
    for g, w in zip(got, want, strict=True):
        assert abs(g["_score"] - w[1]) < 1e-9
    assert set(got[0]) == {"_id", "_score"}


def test_the_same_results_on_both_backends(make_engine: EngineFactory) -> None:
    """Both backends return identical ids, order and scores (within 1e-6) for a random corpus;
    the answer is compared with a fixed, backend-independent brute force, so a backend that
    differed from the other would differ from it."""
    engine = make_engine(schema())
    docs = corpus(120, seed=11)
    ids = insert(engine, docs)
    rnd = random.Random(3)
    for _ in range(5):
        q = [rnd.uniform(-1, 1) for _ in range(DIMS)]
        got = search(engine, q, limit=20, filter=lambda f: f.eq("kind", "b"))
        want = expected(docs, ids, q, "cosine", 20, lambda d: d["kind"] == "b")
        assert [g["_id"] for g in got] == [w[0] for w in want]
        assert all(abs(g["_score"] - w[1]) < 1e-6 for g, w in zip(got, want, strict=True))


def test_filters_eq_and_or(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    docs = corpus(30)
    ids = insert(engine, docs)
    by_id = dict(zip(ids, docs, strict=True))
    q = [1.0] * DIMS
    only_a = search(engine, q, limit=256, filter=lambda f: f.eq("kind", "a"))
    assert len(only_a) == 10 and all(by_id[h["_id"]]["kind"] == "a" for h in only_a)
    a_or_c = search(
        engine, q, limit=256, filter=lambda f: f.or_(f.eq("kind", "a"), f.eq("kind", "c"))
    )
    assert len(a_or_c) == 20 and {by_id[h["_id"]]["kind"] for h in a_or_c} == {"a", "c"}
    piped = search(engine, q, limit=256, filter=lambda f: f.eq("kind", "a") | f.eq("n", 1))
    assert len(piped) == 11
    assert search(engine, q, filter=lambda f: f.eq("kind", "zzz")) == []
    assert len(search(engine, q)) == 10  # default limit


def test_with_vector_index_in_a_query_returns_documents_with_scores(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(schema())
    insert(engine, corpus(12))
    q = [0.5] * DIMS

    def run(tx: Transaction) -> list[dict[str, Any]]:
        return tx.query("notes").with_vector_index(
            "by_embedding", vector=q, limit=3, filter=lambda f: f.eq("kind", "a")
        )

    docs = read(engine, run)
    plain = search(engine, q, limit=3, filter=lambda f: f.eq("kind", "a"))
    assert [d["_id"] for d in docs] == [p["_id"] for p in plain]
    assert [d["_score"] for d in docs] == [p["_score"] for p in plain]
    assert all(d["kind"] == "a" and len(d["embedding"]) == DIMS for d in docs)


def test_a_mutation_finds_its_own_writes_and_deletes_leave(make_engine: EngineFactory) -> None:
    engine = make_engine(schema())
    q = [1.0, 0.0] + [0.0] * (DIMS - 2)

    def body(tx: Transaction) -> list[str]:
        a = tx.insert("notes", {"embedding": q, "kind": "a"})
        tx.insert("notes", {"embedding": [0.0, 1.0] + [0.0] * (DIMS - 2), "kind": "a"})
        first = vector_search(tx, "notes", "by_embedding", q, 1)
        tx.delete(a)
        second = vector_search(tx, "notes", "by_embedding", q, 1)
        return [first[0]["_id"], second[0]["_id"], a]

    first, second, a = mutate(engine, body).value
    assert first == a and second != a
    assert [h["_id"] for h in search(engine, q)] == [second]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vector": [1.0] * (DIMS - 1)}, "has 7 dimensions; the index has 8"),
        ({"vector": [1.0] * (DIMS - 1) + [math.nan]}, "vector components must be finite"),
        ({"vector": [1.0] * (DIMS - 1) + [math.inf]}, "vector components must be finite"),
        ({"vector": [1.0] * (DIMS - 1) + ["x"]}, "is str, not a number"),
        ({"limit": 0}, "limit must be 1..256, got 0"),
        ({"limit": 257}, "limit must be 1..256, got 257"),
        ({"limit": 2.5}, "limit must be an integer"),
        ({"index": "nope"}, "no vector index 'nope'; its vector indexes are by_embedding"),
        ({"filter": lambda f: f.eq("embedding", 1)}, "'embedding' is not a filter field"),
        ({"filter": lambda f: 3}, "must return q.eq(...) or q.or_(...)"),
    ],
)
def test_bad_input_is_a_clear_error(
    make_engine: EngineFactory, kwargs: dict[str, Any], message: str
) -> None:
    engine = make_engine(schema())
    insert(engine, corpus(3))
    args: dict[str, Any] = {"vector": [1.0] * DIMS, "index": "by_embedding", **kwargs}
    extra = {k: args[k] for k in ("limit", "filter") if k in args}
    with pytest.raises(InvalidQueryError, match=re.escape(message)):
        read(
            engine,
            lambda tx: vector_search(tx, "notes", args["index"], args["vector"], **extra),
        )


def test_a_document_with_a_wrong_vector_is_refused_and_nothing_is_written(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(schema())
    good = {"embedding": [1.0] * DIMS, "kind": "a"}
    for bad in ([1.0] * 3, [1.0] * (DIMS - 1) + [math.nan]):

        def body(tx: Transaction, bad: list[float] = bad) -> None:
            tx.insert("notes", dict(good))
            tx.insert("notes", {"embedding": bad, "kind": "a"})

        with pytest.raises(ValidationError, match="field 'embedding' \\(vector index"):
            mutate(engine, body)
    assert read(engine, lambda tx: tx.query("notes").collect()) == []
    doc_id = insert(engine, [good])[0]
    with pytest.raises(ValidationError, match="has 2 dimensions; the index has 8"):
        mutate(engine, lambda tx: tx.patch(doc_id, {"embedding": [1.0, 2.0]}))
    assert read(engine, lambda tx: tx.get(doc_id))["embedding"] == [1.0] * DIMS


def test_adding_an_index_covers_existing_documents_and_removing_drops_it(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(schema(with_index=False))
    ids = insert(engine, corpus(5))
    engine = make_engine.reopen(engine, schema())
    assert len(search(engine, [1.0] * DIMS, limit=5)) == 5
    assert {h["_id"] for h in search(engine, [1.0] * DIMS, limit=5)} == set(ids)
    engine = make_engine.reopen(engine, schema(with_index=False))
    with pytest.raises(InvalidQueryError, match="no vector index 'by_embedding'"):
        search(engine, [1.0] * DIMS)


def test_schema_definition_errors() -> None:
    base = define_table({"e": v.array(v.float64())})
    with pytest.raises(ValueError, match=re.escape("dimensions must be 2..4096, got 1")):
        base.vector_index("x", vector_field="e", dimensions=1)
    with pytest.raises(ValueError, match=re.escape("dimensions must be 2..4096, got 4097")):
        base.vector_index("x", vector_field="e", dimensions=4097)
    with pytest.raises(ValueError, match="at most 16 filter fields"):
        base.vector_index(
            "x", vector_field="e", dimensions=4, filter_fields=[f"f{i}" for i in range(17)]
        )
    with pytest.raises(ValueError, match="metric must be 'cosine' or 'dot'"):
        base.vector_index("x", vector_field="e", dimensions=4, metric="l2")
    base.vector_index("x", vector_field="e", dimensions=4)
    with pytest.raises(ValueError, match="defined twice"):
        base.vector_index("x", vector_field="e", dimensions=4)
