"""Commit timestamps are strictly increasing u64 nanoseconds; the commit log lists every write."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

from livebase import define_schema, define_table
from livebase.engine import Engine, Transaction
from livebase.engine.catalog import TableInfo
from livebase.runtime import FakeRuntime

from .conftest import EngineFactory, mutate, read, run

SCHEMA = define_schema({"msgs": define_table().index("by_channel", ["channel"])})


def commit_log(engine: Engine) -> list[tuple[int, dict[str, object]]]:
    with engine.storage.reader() as r:
        return [(ts, json.loads(entry)) for ts, entry in r.commits_after(0, 1000)]


def core(entry: dict[str, object]) -> list[dict[str, object]]:
    """The table, id and index keys of each write (entries may carry more fields)."""
    keep = ("table", "id", "old", "new")
    return [{k: w[k] for k in keep} for w in entry["writes"]]  # type: ignore[attr-defined]


def expected_keys(info: TableInfo, doc: dict[str, object] | None) -> dict[str, str]:
    if doc is None:
        return {}
    return {str(i): k.hex() for i, k in info.index_keys(doc).items()}


def test_timestamps_strictly_increase_and_are_nanoseconds(engine: Engine) -> None:
    before = time.time_ns()
    stamps = [mutate(engine, lambda tx, i=i: tx.insert("t", {"i": i})).ts for i in range(50)]

    async def burst() -> list[int]:
        outs = await asyncio.gather(
            *(engine.mutate(lambda tx: tx.insert("t", {})) for _ in range(50))
        )
        return [o.ts for o in outs]

    stamps += run(burst())
    after = time.time_ns()
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert all(0 < ts < 2**64 for ts in stamps)
    # Derived from the wall clock in nanoseconds (a little ahead is fine, behind is not).
    assert before <= stamps[0] and stamps[-1] <= after + 10**9
    assert [ts for ts, _ in commit_log(engine)] == stamps
    assert engine.latest_ts == stamps[-1]


def test_timestamps_strictly_increase_with_a_frozen_clock(make_engine: EngineFactory) -> None:
    runtime = FakeRuntime(start_ns=1_000)
    engine = make_engine(runtime=runtime)
    stamps = [mutate(engine, lambda tx: tx.insert("t", {})).ts for _ in range(20)]

    async def burst() -> list[int]:
        outs = await asyncio.gather(
            *(engine.mutate(lambda tx: tx.insert("t", {})) for _ in range(20))
        )
        return [o.ts for o in outs]

    stamps += run(burst())
    assert stamps == sorted(set(stamps))
    assert len(stamps) == 40
    assert stamps[0] >= 1_000


def test_read_only_mutation_gets_latest_ts_and_no_commit_entry(engine: Engine) -> None:
    doc_id = mutate(engine, lambda tx: tx.insert("t", {"n": 1})).value
    written = mutate(engine, lambda tx: tx.patch(doc_id, {"n": 2})).ts
    entries = len(commit_log(engine))
    outcome = mutate(engine, lambda tx: tx.get(doc_id)["n"])  # type: ignore[index]
    assert outcome.value == 2
    assert outcome.ts == written
    assert len(commit_log(engine)) == entries
    assert engine.latest_ts == written
    # Reading a table that does not exist creates nothing either.
    assert mutate(engine, lambda tx: tx.query("nothing").collect()).ts == written
    assert "nothing" not in engine.catalog.tables
    assert len(commit_log(engine)) == entries


def test_commit_log_lists_table_id_and_index_keys(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    info = engine.catalog.tables["msgs"]

    def insert_two(tx: Transaction) -> tuple[str, str]:
        return tx.insert("msgs", {"channel": "a"}), tx.insert("other", {"x": 1})

    ins = mutate(engine, insert_two)
    a, other = ins.value
    doc_a = read(engine, lambda tx: tx.get(a))
    doc_other = read(engine, lambda tx: tx.get(other))
    patched = mutate(engine, lambda tx: tx.patch(a, {"channel": "b"}))
    doc_a2 = read(engine, lambda tx: tx.get(a))
    deleted = mutate(engine, lambda tx: tx.delete(a))

    log = commit_log(engine)
    assert [ts for ts, _ in log] == [ins.ts, patched.ts, deleted.ts]
    other_info = engine.catalog.tables["other"]
    assert core(log[0][1]) == [
        {"table": "msgs", "id": a, "old": {}, "new": expected_keys(info, doc_a)},
        {"table": "other", "id": other, "old": {}, "new": expected_keys(other_info, doc_other)},
    ]
    assert core(log[1][1]) == [
        {
            "table": "msgs",
            "id": a,
            "old": expected_keys(info, doc_a),
            "new": expected_keys(info, doc_a2),
        }
    ]
    assert core(log[2][1]) == [
        {"table": "msgs", "id": a, "old": expected_keys(info, doc_a2), "new": {}}
    ]
    # Every index of the table appears, and the user index key moved with the patch.
    by_channel = str(info.indexes["by_channel"].index_id)
    assert set(log[0][1]["writes"][0]["new"]) == {str(i.index_id) for i in info.indexes.values()}
    assert log[1][1]["writes"][0]["old"][by_channel] != log[1][1]["writes"][0]["new"][by_channel]


def test_commit_log_keys_match_the_stored_index_entries(make_engine: EngineFactory) -> None:
    engine = make_engine(SCHEMA)
    doc_id = mutate(engine, lambda tx: tx.insert("msgs", {"channel": "z"})).value
    _, entry = commit_log(engine)[-1]
    with engine.storage.reader() as r:
        for index_id, key_hex in entry["writes"][0]["new"].items():  # type: ignore[index]
            key = bytes.fromhex(key_hex)
            rows = r.scan_index(int(index_id), key, key + b"\x00", reverse=False, limit=2)
            assert len(rows) == 1
            assert json.loads(rows[0].document)["_id"] == doc_id


def test_reopened_engine_continues_with_larger_timestamps(make_engine: EngineFactory) -> None:
    engine = make_engine()
    last = 0
    for i in range(5):
        last = mutate(engine, lambda tx, i=i: tx.insert("t", {"i": i})).ts
    # The clock of the reopened engine is far in the past: timestamps must still grow.
    reopened = make_engine.reopen(engine, runtime=FakeRuntime(start_ns=5, seed=1))
    assert reopened.latest_ts == last
    nxt = mutate(reopened, lambda tx: tx.insert("t", {"i": 5})).ts
    assert nxt > last
    assert mutate(reopened, lambda tx: tx.insert("t", {"i": 6})).ts > nxt
    assert sorted(d["i"] for d in read(reopened, lambda tx: tx.query("t").collect())) == list(
        range(7)
    )


def test_creation_time_keeps_increasing_after_reopen_with_a_clock_behind(
    make_engine: EngineFactory,
) -> None:
    """Within one engine, ``_creationTime`` never goes backwards even when the clock does; the
    same must hold across a restart, or new documents sort before old ones in by_creation_time."""
    engine = make_engine(runtime=FakeRuntime(start_ns=2_000_000_000_000_000_000))
    first = mutate(engine, lambda tx: tx.insert("t", {"i": 0})).value
    reopened = make_engine.reopen(
        engine, runtime=FakeRuntime(start_ns=1_000_000_000_000_000_000, seed=1)
    )
    second = mutate(reopened, lambda tx: tx.insert("t", {"i": 1})).value
    docs = read(reopened, lambda tx: tx.query("t").collect())
    assert [d["_id"] for d in docs] == [first, second]
    assert docs[1]["_creationTime"] > docs[0]["_creationTime"]
