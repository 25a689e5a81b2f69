"""Reads as of an earlier timestamp (``/api/query_at_ts``): the state is rebuilt from the latest
snapshot and the commit log, for gets, index ranges, both orders and limits."""

from __future__ import annotations

import pytest

from livebase.engine import Engine
from livebase.errors import InvalidValueError
from livebase.schema import define_schema, define_table
from livebase.values.validators import v

from .conftest import EngineFactory, mutate, run

SCHEMA = define_schema(
    {"items": define_table({"group": v.string(), "n": v.number()}).index("by_group", ["group"])}
)


def _group(tx, group: str, order: str = "asc", take: int | None = None) -> list[float]:
    q = tx.query("items").with_index("by_group", lambda q: q.eq("group", group)).order(order)
    docs = q.take(take) if take is not None else q.collect()
    return [d["n"] for d in docs]


@pytest.fixture
def items(make_engine: EngineFactory) -> Engine:
    return make_engine(SCHEMA)


def test_state_at_an_earlier_timestamp_ignores_later_inserts_patches_and_deletes(
    items: Engine,
) -> None:
    ids = [
        mutate(items, lambda tx, n=n: tx.insert("items", {"group": "a", "n": float(n)})).value
        for n in range(5)
    ]
    then = items.latest_ts
    mutate(items, lambda tx: tx.insert("items", {"group": "a", "n": 99.0}))
    mutate(items, lambda tx: tx.patch(ids[1], {"n": 11.0}))
    mutate(items, lambda tx: tx.patch(ids[2], {"group": "b"}))  # moves out of the range
    mutate(items, lambda tx: tx.delete(ids[3]))
    mutate(items, lambda tx: tx.patch(ids[1], {"n": 111.0}))  # a second write to the same doc

    now, _ = items.read(lambda tx: _group(tx, "a"))
    assert now == [0.0, 111.0, 4.0, 99.0]

    past, tx = items.read_at(then, lambda tx: _group(tx, "a"))
    assert past == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert tx.snapshot_ts == then
    assert items.read_at(then, lambda tx: _group(tx, "a", "desc"))[0] == [4.0, 3.0, 2.0, 1.0, 0.0]
    assert items.read_at(then, lambda tx: _group(tx, "a", take=2))[0] == [0.0, 1.0]
    assert items.read_at(then, lambda tx: _group(tx, "a", "desc", take=2))[0] == [4.0, 3.0]
    assert items.read_at(then, lambda tx: _group(tx, "b"))[0] == []
    assert items.read_at(then, lambda tx: tx.get(ids[3]))[0]["n"] == 3.0
    assert items.read_at(then, lambda tx: tx.get(ids[1]))[0]["n"] == 1.0


def test_a_document_inserted_after_the_timestamp_does_not_exist_then(items: Engine) -> None:
    mutate(items, lambda tx: tx.insert("items", {"group": "a", "n": 1.0}))
    then = items.latest_ts
    late = mutate(items, lambda tx: tx.insert("items", {"group": "a", "n": 2.0})).value
    assert items.read_at(then, lambda tx: tx.get(late))[0] is None
    assert items.read_at(then, lambda tx: len(tx.query("items").collect()))[0] == 1


def test_the_latest_timestamp_reads_the_current_state(items: Engine) -> None:
    mutate(items, lambda tx: tx.insert("items", {"group": "a", "n": 1.0}))
    assert items.read_at(items.latest_ts, lambda tx: _group(tx, "a"))[0] == [1.0]


def test_a_future_timestamp_is_refused(items: Engine) -> None:
    mutate(items, lambda tx: tx.insert("items", {"group": "a", "n": 1.0}))
    with pytest.raises(InvalidValueError) as info:
        items.read_at(items.latest_ts + 1, lambda tx: None)
    assert info.value.code == "TimestampInFuture"


def test_history_survives_a_restart(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    doc = run(engine.mutate(lambda tx: tx.insert("items", {"group": "a", "n": 1.0}))).value
    then = engine.latest_ts
    mutate(engine, lambda tx: tx.patch(doc, {"n": 2.0}))
    reopened = make_engine.reopen(engine)
    assert reopened.read_at(then, lambda tx: tx.get(doc))[0]["n"] == 1.0
