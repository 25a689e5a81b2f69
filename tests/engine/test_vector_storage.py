"""The storage interface's vector index methods, one conformance suite run against SQLite
(sqlite-vec), the real PostgreSQL server (each layout it allows: ``cube`` and plain arrays; it
has no pgvector) and a PostgreSQL 16 with pgvector from the ``pgserver`` wheel: entries follow
puts, replaces and deletes in the writer's transaction, savepoints and rollbacks undo them, a
search returns the nearest candidates for cosine and dot product with and without a filter,
and a dropped index is gone."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from livebase.storage import Storage, open_storage, postgres_vectors
from livebase.storage.postgres import PostgresStorage, _PgWriter
from livebase.storage.sqlite import SqliteStorage
from livebase.storage.vector_types import (
    VectorEntry,
    VectorIndexSpec,
    VectorRequest,
    filter_hash,
)
from tests.engine.test_storage_conformance import _opened, open_backend
from tests.support.pgvector_server import fresh_pgvector_url

DIMS = 12
INDEX = 42
# (backend, PostgreSQL layouts allowed): SQLite always uses sqlite-vec.
CASES = [
    ("sqlite", ()),
    ("postgres", ("cube",)),
    ("postgres", ("array",)),
    ("pgvector", ("pgvector",)),
]


class Store:
    """A storage with one vector index, built the way the case says."""

    def __init__(self, storage: Storage, layouts: tuple[str, ...]) -> None:
        self.storage = storage
        self.layouts = layouts

    def create(self, metric: str, filters: int = 1, dims: int = DIMS) -> None:
        spec = VectorIndexSpec(dims, metric, filters)
        with self.storage.writer() as w:
            if isinstance(w, _PgWriter):
                layout = postgres_vectors.create(w._cur, INDEX, spec, layouts=self.layouts)
                assert layout == self.layouts[0]
            else:
                w.create_vector_index(INDEX, spec)
            assert w.has_vector_index(INDEX)


@pytest.fixture(params=CASES, ids=lambda c: "-".join([c[0], *c[1]]))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend, layouts = request.param
    if backend == "pgvector":
        folder = request.getfixturevalue("pgvector_folder")
        with fresh_pgvector_url(folder) as url:
            for opener in _opened(lambda: open_storage(url, "normal")):
                yield Store(opener(), layouts)
        return
    with open_backend(backend, tmp_path) as base:
        for opener in _opened(base):
            yield Store(opener(), layouts)



def vectors(count: int, seed: int = 5, dims: int = DIMS) -> list[tuple[float, ...]]:
    rnd = random.Random(seed)
    return [tuple(rnd.uniform(-1, 1) for _ in range(dims)) for _ in range(count)]


def put_all(storage: Storage, vecs: list[tuple[float, ...]], kinds: list[str]) -> list[str]:
    ids = [f"d{i:03d}" for i in range(len(vecs))]
    with storage.writer() as w:
        for doc_id, vec, kind in zip(ids, vecs, kinds, strict=True):
            w.put_document(doc_id, 1, f'{{"_id": "{doc_id}", "kind": "{kind}"}}')
            w.put_vector_entry(INDEX, doc_id, VectorEntry(vec, (filter_hash(kind),)), replace=False)
    return ids


def brute(
    vecs: list[tuple[float, ...]], ids: list[str], q: tuple[float, ...], metric: str
) -> list[str]:
    def score(v: tuple[float, ...]) -> float:
        dot = sum(a * b for a, b in zip(v, q, strict=True))
        if metric == "dot":
            return dot
        return dot / (math.sqrt(sum(a * a for a in v)) * math.sqrt(sum(b * b for b in q)))

    return [i for _, i in sorted(((-score(v), i) for v, i in zip(vecs, ids, strict=True)))]


def search(
    storage: Storage, q: tuple[float, ...], metric: str, limit: int, any_of: object = None
) -> list[str]:
    with storage.reader() as r:
        found = r.vector_search(INDEX, VectorRequest(q, metric, limit, any_of))  # type: ignore[arg-type]
    assert found is not None, "the index must answer, not fall back to a scan"
    return [c.doc_id for c in found]


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_search_returns_the_nearest_with_and_without_a_filter(store: Store, metric: str) -> None:
    store.create(metric)
    vecs = vectors(80)
    kinds = ["a", "b", "c", "d"] * 20
    ids = put_all(store.storage, vecs, kinds)
    q = vectors(1, seed=99)[0]
    assert search(store.storage, q, metric, 10) == brute(vecs, ids, q, metric)[:10]
    a_or_c = ((0, filter_hash("a")), (0, filter_hash("c")))
    want = [i for i in brute(vecs, ids, q, metric) if kinds[ids.index(i)] in "ac"][:7]
    assert search(store.storage, q, metric, 7, a_or_c) == want
    assert search(store.storage, q, metric, 5, ((0, filter_hash("zzz")),)) == []
    with store.storage.reader() as r:
        found = r.vector_search(INDEX, VectorRequest(q, metric, 1))
    assert found is not None and found[0].document.startswith('{"_id": "')


def test_replace_and_delete_follow_the_document(store: Store) -> None:
    store.create("cosine")
    e1 = (1.0,) + (0.0,) * (DIMS - 1)
    e2 = (0.0, 1.0) + (0.0,) * (DIMS - 2)
    ids = put_all(store.storage, [e1, e2], ["a", "a"])
    assert search(store.storage, e1, "cosine", 1) == [ids[0]]
    with store.storage.writer() as w:  # d000 moves next to e2 and to kind "b"
        w.put_vector_entry(INDEX, ids[0], VectorEntry(e2, (filter_hash("b"),)), replace=True)
    assert search(store.storage, e1, "cosine", 2)[0] in ids
    assert search(store.storage, e2, "cosine", 5, ((0, filter_hash("a")),)) == [ids[1]]
    assert search(store.storage, e2, "cosine", 5, ((0, filter_hash("b")),)) == [ids[0]]
    with store.storage.writer() as w:
        w.delete_vector_entry(INDEX, ids[1])
        w.delete_vector_entry(INDEX, "not-there")  # nothing happens
    assert search(store.storage, e2, "cosine", 5) == [ids[0]]


def test_rollbacks_and_savepoints_undo_entries(store: Store) -> None:
    store.create("cosine")
    e = (1.0,) * DIMS
    with pytest.raises(RuntimeError), store.storage.writer() as w:
        w.put_document("x", 1, '{"_id": "x"}')
        w.put_vector_entry(INDEX, "x", VectorEntry(e, (filter_hash("a"),)), replace=False)
        raise RuntimeError("abort")
    assert search(store.storage, e, "cosine", 5) == []
    with store.storage.writer() as w:
        w.put_document("y", 1, '{"_id": "y"}')
        w.put_vector_entry(INDEX, "y", VectorEntry(e, (filter_hash("a"),)), replace=False)
        w.savepoint()
        w.put_document("z", 1, '{"_id": "z"}')
        w.put_vector_entry(INDEX, "z", VectorEntry(e, (filter_hash("a"),)), replace=False)
        w.delete_vector_entry(INDEX, "y")
        w.rollback_to_savepoint()
        assert w.vector_search(INDEX, VectorRequest(e, "cosine", 5)) is not None
        found = w.vector_search(INDEX, VectorRequest(e, "cosine", 5))
        assert [c.doc_id for c in found or []] == ["y"]
    assert search(store.storage, e, "cosine", 5) == ["y"]


def test_a_reader_keeps_its_snapshot(store: Store) -> None:
    store.create("dot")
    e = (0.5,) * DIMS
    put_all(store.storage, [e], ["a"])
    with store.storage.reader() as r:
        assert r.vector_search(INDEX, VectorRequest(e, "dot", 5)) is not None  # snapshot taken
        with store.storage.writer() as w:
            w.put_document("late", 1, '{"_id": "late"}')
            w.put_vector_entry(INDEX, "late", VectorEntry(e, (filter_hash("a"),)), replace=False)
        found = r.vector_search(INDEX, VectorRequest(e, "dot", 5))
        assert [c.doc_id for c in found or []] == ["d000"]
    assert sorted(search(store.storage, e, "dot", 5)) == ["d000", "late"]


def test_dropping_and_clearing_remove_the_index(store: Store) -> None:
    store.create("cosine")
    e = (1.0,) * DIMS
    put_all(store.storage, [e], ["a"])
    with store.storage.writer() as w:
        w.drop_vector_index(INDEX)
        assert not w.has_vector_index(INDEX)
    with store.storage.reader() as r:
        assert r.vector_search(INDEX, VectorRequest(e, "cosine", 5)) is None
    store.create("cosine")
    with store.storage.writer() as w:
        w.clear()
    with store.storage.writer() as w:
        assert not w.has_vector_index(INDEX)


def test_high_dimensions_and_no_filter_fields(store: Store) -> None:
    """384 and 1,000 dimensions (PostgreSQL's cube layout splits them into chunks of at most
    100), an index without filter fields."""
    for dims in (384, 1000):
        store.create("cosine", filters=0, dims=dims)
        vecs = vectors(30, seed=dims, dims=dims)
        ids = [f"v{i}" for i in range(30)]
        with store.storage.writer() as w:
            for doc_id, vec in zip(ids, vecs, strict=True):
                w.put_document(doc_id, 1, f'{{"_id": "{doc_id}"}}')
                w.put_vector_entry(INDEX, doc_id, VectorEntry(vec, ()), replace=False)
        q = vectors(1, seed=1, dims=dims)[0]
        assert search(store.storage, q, "cosine", 10) == brute(vecs, ids, q, "cosine")[:10]
        with store.storage.writer() as w:
            for doc_id in ids:
                w.delete_document(doc_id)


def test_chunks_cover_every_dimension_within_the_cube_limit() -> None:
    for dims in (2, 99, 100, 101, 384, 1536, 4096):
        parts = postgres_vectors.chunks(dims)
        assert parts[0][0] == 0 and parts[-1][1] == dims
        assert all(a < b <= a + postgres_vectors.CUBE_MAX_DIMENSIONS for a, b in parts)
        assert all(parts[i][1] == parts[i + 1][0] for i in range(len(parts) - 1))


def test_backends_are_what_the_cases_say(store: Store) -> None:
    if isinstance(store.storage, SqliteStorage):
        assert store.storage.vectors, "sqlite-vec must load in this environment"
    else:
        assert isinstance(store.storage, PostgresStorage)


def test_dot_product_ranks_vectors_of_very_different_lengths(store: Store) -> None:
    """Short vectors first, then ever longer ones (on SQLite each longer one raises the bound
    every stored vector is padded to), then short again: the true best 12 come first (on
    SQLite the float32 order is only as fine as the longest vector allows, see
    ``sqlite_vectors``, so norms here span 3,000x, not millions)."""
    store.create("dot")
    rnd = random.Random(8)
    vecs = []
    for scale in (0.01, 0.5, 2.0, 8.0, 30.0, 1.0):
        vecs += [tuple(scale * rnd.uniform(-1, 1) for _ in range(DIMS)) for _ in range(8)]
    ids = put_all(store.storage, vecs, ["a"] * len(vecs))
    for seed in range(3):
        q = vectors(1, seed=seed)[0]
        assert search(store.storage, q, "dot", 12) == brute(vecs, ids, q, "dot")[:12]
    with store.storage.writer() as w:  # the longest leave: the rest still rank right
        for doc_id in ids[32:40]:
            w.delete_vector_entry(INDEX, doc_id)
    rest = [(v, i) for v, i in zip(vecs, ids, strict=True) if i not in ids[32:40]]
    q = vectors(1, seed=9)[0]
    want = brute([v for v, _ in rest], [i for _, i in rest], q, "dot")[:12]
    assert search(store.storage, q, "dot", 12) == want


def test_a_postgres_extension_livebase_creates_lives_outside_the_apps_schema(
    tmp_path: Path,
) -> None:
    """Dropping one app's schema must not drop ``cube`` (and every app's vector columns)."""
    with open_backend("postgres", tmp_path) as base:
        for opener in _opened(base):
            store = Store(opener(), ("cube",))
            store.create("cosine")
            assert isinstance(store.storage, PostgresStorage)
            with store.storage.reader() as r:
                row = r._cur.execute(  # type: ignore[attr-defined]
                    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                    "ON n.oid = e.extnamespace WHERE e.extname = 'cube'"
                ).fetchone()
            assert row is not None and row[0] != store.storage.schema
