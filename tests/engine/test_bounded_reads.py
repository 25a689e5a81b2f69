"""Bounded reads over 30,000 documents: take(20) reads 20 rows and records only their range."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from livebase import define_schema, define_table
from livebase.engine import Engine, Transaction
from livebase.engine.catalog import BY_CREATION_TIME
from livebase.errors import LimitExceededError
from livebase.storage import open_storage

from .conftest import BACKENDS, EngineFactory, limits, mutate

TOTAL = 30_000
PER_MUTATION = 10_000
SCHEMA = define_schema({"items": define_table().index("by_n", ["n"])})


@pytest.fixture(scope="module", params=BACKENDS)
def big_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A database holding 30,000 documents, built once per module and backend."""
    directory = tmp_path_factory.mktemp("big")
    with ExitStack() as stack:
        factory = EngineFactory(directory, request.param, stack)
        yield _fill(factory)


def _fill(factory: EngineFactory) -> Any:
    settings = limits(max_documents_written=PER_MUTATION, max_function_seconds=60.0)
    engine = factory(SCHEMA, settings=settings)

    def fill(start: int):  # type: ignore[no-untyped-def]
        def body(tx: Transaction) -> None:
            for n in range(start, start + PER_MUTATION):
                tx.insert("items", {"n": n, "even": n % 2 == 0})

        return body

    for start in range(0, TOTAL, PER_MUTATION):
        mutate(engine, fill(start))
    path = factory.path()
    factory.close_all()
    return path


@pytest.fixture
def big(big_db: Any, tmp_path: Path) -> Iterator[EngineFactory]:
    """A private copy of the big database; open it with ``big(SCHEMA, ...)``."""
    with ExitStack() as stack:
        backend = "sqlite" if isinstance(big_db, Path) else "postgres"
        factory = EngineFactory(tmp_path, backend, stack)
        if backend == "sqlite":
            shutil.copy(big_db, factory.path())
        else:
            copy_schema(big_db, factory.path())
        yield factory
        factory.close_all()


def copy_schema(source_url: str, target_url: str) -> None:
    """Copy Livebase's tables from one PostgreSQL schema to another (a fresh one)."""
    import psycopg

    from livebase.storage.postgres import split_url

    open_storage(target_url, "normal").close()  # creates the tables
    conninfo, source = split_url(source_url)
    _, target = split_url(target_url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in ("lb_documents", "lb_indexes", "lb_commits", "lb_globals"):
            conn.execute(f'INSERT INTO "{target}".{table} SELECT * FROM "{source}".{table}')
        conn.execute(f'UPDATE "{target}".lb_clock SET ts = (SELECT ts FROM "{source}".lb_clock)')


def index_id(engine: Engine, name: str) -> int:
    return engine.catalog.tables["items"].indexes[name].index_id


def keys_of(engine: Engine, name: str, count: int, *, reverse: bool = False) -> list[bytes]:
    with engine.storage.reader() as r:
        rows = r.scan_index(index_id(engine, name), b"", b"\xff\xff", reverse=reverse, limit=count)
    return [row.key for row in rows]


def new_key(engine: Engine, ts: int, name: str) -> bytes:
    with engine.storage.reader() as r:
        entries = dict(r.commits_after(ts - 1, 10))
    write = json.loads(entries[ts])["writes"][0]
    return bytes.fromhex(write["new"][str(index_id(engine, name))])


def test_take_20_reads_20_rows_and_records_only_their_range(big: EngineFactory) -> None:
    engine = big(SCHEMA)
    docs, tx = engine.read(lambda tx: tx.query("items").take(20))
    assert [d["n"] for d in docs] == list(range(20))
    assert tx.documents_scanned == 20
    assert len(tx.read_set.intervals) == 1
    interval = tx.read_set.intervals[0]
    assert interval.index_id == index_id(engine, BY_CREATION_TIME)
    keys = keys_of(engine, BY_CREATION_TIME, 21)
    assert all(tx.read_set.overlaps(interval.index_id, k) for k in keys[:20])
    assert not tx.read_set.overlaps(interval.index_id, keys[20])
    # A document inserted now lands at the far end of by_creation_time: not in the read set.
    ts = mutate(engine, lambda tx: tx.insert("items", {"n": TOTAL, "even": True})).ts
    assert not tx.read_set.overlaps(interval.index_id, new_key(engine, ts, BY_CREATION_TIME))


def test_take_20_desc_on_a_user_index(big: EngineFactory) -> None:
    engine = big(SCHEMA)
    docs, tx = engine.read(lambda tx: tx.query("items").with_index("by_n").order("desc").take(20))
    assert [d["n"] for d in docs] == list(range(TOTAL - 1, TOTAL - 21, -1))
    assert tx.documents_scanned == 20
    assert len(tx.read_set.intervals) == 1
    by_n = index_id(engine, "by_n")
    keys = keys_of(engine, "by_n", 21, reverse=True)
    assert all(tx.read_set.overlaps(by_n, k) for k in keys[:20])
    assert not tx.read_set.overlaps(by_n, keys[20])
    # A document at the low end of by_n is outside the range this query read.
    ts = mutate(engine, lambda tx: tx.insert("items", {"n": -1, "even": False})).ts
    assert not tx.read_set.overlaps(by_n, new_key(engine, ts, "by_n"))


@pytest.mark.parametrize("n", [100, 1500])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_take_n_read_set_covers_only_the_rows_returned(
    big: EngineFactory, n: int, order: str
) -> None:
    """Beyond the first storage batch the read set must still stop at the last row returned, or
    a subscription would be re-run for writes to rows it never read."""
    engine = big(SCHEMA)
    docs, tx = engine.read(lambda tx: tx.query("items").order(order).take(n))
    assert len(docs) == n
    assert tx.documents_scanned == n
    index = index_id(engine, BY_CREATION_TIME)
    keys = keys_of(engine, BY_CREATION_TIME, 2 * n, reverse=order == "desc")
    assert all(tx.read_set.overlaps(index, k) for k in keys[:n])
    not_read = [i for i in range(n, 2 * n) if tx.read_set.overlaps(index, keys[i])]
    assert not_read == [], f"{len(not_read)} rows past the {n}th are in the read set"


def test_filter_scanning_past_the_limit_raises(big: EngineFactory) -> None:
    engine = big(SCHEMA, settings=limits(max_documents_scanned=1_000))
    with pytest.raises(LimitExceededError) as info:
        engine.read(lambda tx: tx.query("items").filter(lambda d: d["n"] < 0).first())
    assert info.value.code == "TooManyDocumentsRead"
    assert "1000" in str(info.value)
    # A bounded read of the same table is still fine.
    docs, tx = engine.read(lambda tx: tx.query("items").take(500))
    assert len(docs) == 500 and tx.documents_scanned == 500


def test_collect_of_30000_with_default_limits(big: EngineFactory) -> None:
    engine = big(SCHEMA)
    docs, tx = engine.read(lambda tx: tx.query("items").with_index("by_n").collect())
    assert [d["n"] for d in docs] == list(range(TOTAL))
    assert tx.documents_scanned == TOTAL


def test_filter_inside_a_mutation_past_the_limit_writes_nothing(big: EngineFactory) -> None:
    engine = big(SCHEMA, settings=limits(max_documents_scanned=1_000))

    def body(tx: Transaction) -> None:
        tx.insert("items", {"n": -5, "even": False})
        tx.query("items").filter(lambda d: d["n"] == -42).collect()

    with pytest.raises(LimitExceededError) as info:
        mutate(engine, body)
    assert info.value.code == "TooManyDocumentsRead"
    found = engine.read(
        lambda tx: tx.query("items").with_index("by_n", lambda q: q.eq("n", -5)).collect()
    )[0]
    assert found == []
