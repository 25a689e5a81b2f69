"""A mutation run over an ``Overlay`` (how a slow mutation runs in a worker process) reads what it
wrote exactly as one run in the server does, and its replayed writes leave the same database;
a commit that touched what it read since its snapshot is detected, one that did not is not.
Both backends, real databases, deterministic clocks and ids (``FakeRuntime``)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from livebase import define_schema, define_table, v
from livebase.engine import Engine, Transaction
from livebase.engine.overlay import NeedsServer, Overlay, replay, stale_reads
from livebase.runtime import FakeRuntime

from .conftest import EngineFactory, mutate, read

SCHEMA = define_schema(
    {
        "items": define_table({"group": v.string(), "n": v.float64()}).index(
            "by_group_n", ["group", "n"]
        ),
    }
)


def seeded(make_engine: EngineFactory, name: str) -> Engine:
    engine = make_engine(SCHEMA, path=make_engine.path(name), runtime=FakeRuntime(seed=7))
    rng = random.Random(1)
    for _ in range(30):
        group, n = rng.choice("abc"), float(rng.randrange(10))
        mutate(engine, lambda tx, g=group, n=n: tx.insert("items", {"group": g, "n": n}))
    return engine


def random_mutation(seed: int) -> Callable[[Transaction], list[Any]]:
    """Inserts, patches and deletes, with index scans (both orders, limits) in between: what
    each scan saw is the result."""

    def body(tx: Transaction) -> list[Any]:
        rng = random.Random(seed)
        seen: list[Any] = []
        for _ in range(30):
            op = rng.choice(["insert", "patch", "delete", "scan", "scan"])
            group = rng.choice("abc")
            rows = tx.query("items").with_index("by_group_n", lambda q, g=group: q.eq("group", g))
            if op == "insert":
                tx.insert("items", {"group": group, "n": float(rng.randrange(10))})
            elif op in ("patch", "delete"):
                docs = rows.collect()
                if docs:
                    target = rng.choice(docs)["_id"]
                    if op == "delete":
                        tx.delete(target)
                    else:
                        new = {"n": float(rng.randrange(10)), "group": rng.choice("abc")}
                        tx.patch(target, new)
            else:
                order, limit = rng.choice(["asc", "desc"]), rng.randrange(1, 8)
                scanned = rows.order(order).take(limit)
                seen.append([(d["_id"], d["group"], d["n"]) for d in scanned])
                seen.append(len(tx.query("items").collect()))
        return seen

    return body


def everything(engine: Engine) -> list[Any]:
    return read(engine, lambda tx: tx.query("items").with_index("by_group_n").collect())


@pytest.mark.parametrize("seed", range(12))
def test_an_overlay_reads_its_writes_and_replays_to_the_same_database(
    make_engine: EngineFactory, seed: int
) -> None:
    inline, offloaded = seeded(make_engine, "inline"), seeded(make_engine, "overlay")
    expected = mutate(inline, random_mutation(seed)).value

    with offloaded.storage.reader() as reader:
        overlay = Overlay(reader)
        tx = offloaded._transaction(overlay, writable=True, snapshot_ts=reader.latest_ts())
        tx._last_creation_time = offloaded._last_creation_time
        got = random_mutation(seed)(tx)
        snapshot, read_set, writes, ops = tx.snapshot_ts, tx.read_set, tx.writes, overlay.ops

    def commit(tx: Transaction) -> None:
        assert not stale_reads(tx._writer(), read_set, snapshot)
        replay(tx._writer(), ops)
        tx.writes.extend(writes)

    mutate(offloaded, commit)
    assert got == expected
    assert everything(offloaded) == everything(inline)


def test_a_commit_since_the_snapshot_is_caught_only_where_it_was_read(
    make_engine: EngineFactory,
) -> None:
    engine = seeded(make_engine, "db")

    def reads_group_a(tx: Transaction) -> None:
        tx.query("items").with_index("by_group_n", lambda q: q.eq("group", "a")).collect()

    with engine.storage.reader() as reader:
        tx = engine._transaction(Overlay(reader), writable=True, snapshot_ts=reader.latest_ts())
        reads_group_a(tx)
        snapshot, read_set = tx.snapshot_ts, tx.read_set

    def is_stale() -> bool:
        return mutate(engine, lambda tx: stale_reads(tx._writer(), read_set, snapshot)).value

    assert not is_stale()
    mutate(engine, lambda tx: tx.insert("items", {"group": "b", "n": 1.0}))
    assert not is_stale()  # group b: not read
    mutate(engine, lambda tx: tx.insert("items", {"group": "a", "n": 1.0}))
    assert is_stale()


def test_what_an_overlay_cannot_replay_sends_the_mutation_to_the_server(
    make_engine: EngineFactory,
) -> None:
    engine = seeded(make_engine, "db")
    with engine.storage.reader() as reader:
        tx = engine._transaction(Overlay(reader), writable=True, snapshot_ts=reader.latest_ts())
        with pytest.raises(NeedsServer):
            tx._writer().set_global("k", "v")
        tx.insert("new_table", {"x": 1.0})  # a new table: noticed by the caller
        assert tx.catalog_changed


def test_a_call_past_its_inline_budget_stops_at_its_next_read_or_write(
    make_engine: EngineFactory,
) -> None:
    from livebase.engine.transaction import OverBudget

    engine = seeded(make_engine, "db")

    def over_budget_then(action: Callable[[Transaction], Any]) -> Callable[[Transaction], Any]:
        def body(tx: Transaction) -> Any:
            tx.stop_at(0.0)  # already spent: the next safe point stops it
            return action(tx)

        return body

    for action in (
        lambda tx: tx.query("items").first(),
        lambda tx: tx.insert("items", {"group": "a", "n": 1.0}),
    ):
        with pytest.raises(OverBudget):
            mutate(engine, over_budget_then(action))
    assert len(everything(engine)) == 30  # nothing written; the connection still works
    mutate(engine, lambda tx: tx.insert("items", {"group": "a", "n": 1.0}))
    assert len(everything(engine)) == 31
