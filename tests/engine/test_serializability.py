"""Mutations are serializable: group commit runs them one at a time, each in its own savepoint."""

from __future__ import annotations

import asyncio
import time

import pytest

from livebase.engine import Commit, Engine, Transaction

from .conftest import mutate, read, run

WORKERS = 8
PER_WORKER = 500


def test_concurrent_read_increment_write_ends_at_exactly_4000(engine: Engine) -> None:
    counter = mutate(engine, lambda tx: tx.insert("counters", {"n": 0})).value
    batches: list[int] = []
    engine.add_commit_listener(lambda commits: batches.append(len(commits)))

    def increment(tx: Transaction) -> int:
        doc = tx.get(counter)
        assert doc is not None
        n = doc["n"] + 1
        tx.patch(counter, {"n": n})
        return n

    async def worker() -> list[tuple[int, int]]:
        seen = []
        for _ in range(PER_WORKER):
            outcome = await engine.mutate(increment)
            seen.append((outcome.value, outcome.ts))
        return seen

    async def main() -> list[list[tuple[int, int]]]:
        return await asyncio.gather(*(worker() for _ in range(WORKERS)))

    started = time.monotonic()
    results = run(main())
    elapsed = time.monotonic() - started

    total = WORKERS * PER_WORKER
    assert read(engine, lambda tx: tx.get(counter))["n"] == total  # type: ignore[index]
    values = sorted(v for seen in results for v, _ in seen)
    # Every increment saw a distinct predecessor: the outcomes are exactly 1..4000.
    assert values == list(range(1, total + 1))
    # Each worker's own increments are ordered, and so are their timestamps.
    for seen in results:
        assert [v for v, _ in seen] == sorted(v for v, _ in seen)
        assert [ts for _, ts in seen] == sorted(ts for _, ts in seen)
    # A value's timestamp orders it among all commits: ts order == increment order.
    by_value = sorted((v, ts) for seen in results for v, ts in seen)
    assert [ts for _, ts in by_value] == sorted(ts for _, ts in by_value)
    assert len({ts for _, ts in by_value}) == total
    # Group commit really grouped (otherwise this test does not exercise savepoints).
    assert sum(batches) == total
    assert max(batches) > 1
    assert elapsed < 30


def test_failing_mutations_roll_back_alone_within_a_batch(engine: Engine) -> None:
    counter = mutate(engine, lambda tx: tx.insert("counters", {"n": 0})).value
    batches: list[list[Commit]] = []
    engine.add_commit_listener(batches.append)

    def good(i: int):  # type: ignore[no-untyped-def]
        def body(tx: Transaction) -> int:
            n = tx.get(counter)["n"] + 1  # type: ignore[index]
            tx.patch(counter, {"n": n})
            tx.insert("log", {"i": i, "n": n})
            return n

        return body

    def bad(i: int):  # type: ignore[no-untyped-def]
        def body(tx: Transaction) -> None:
            n = tx.get(counter)["n"] + 1  # type: ignore[index]
            tx.patch(counter, {"n": n + 1000})
            tx.insert("log", {"i": i, "bad": True})
            tx.insert(f"ghost{i}", {"x": 1})  # a table created by a failing mutation
            raise ValueError(f"bad {i}")

        return body

    async def main() -> list[object]:
        coros = [engine.mutate(bad(i) if i % 3 == 1 else good(i)) for i in range(12)]
        return await asyncio.gather(*coros, return_exceptions=True)

    results = run(main())
    assert len(batches) == 1, "all twelve mutations should have been committed in one batch"
    bad_ids = [i for i in range(12) if i % 3 == 1]
    good_ids = [i for i in range(12) if i % 3 != 1]
    for i in bad_ids:
        assert isinstance(results[i], ValueError) and str(results[i]) == f"bad {i}"
    # The good ones ran one after another and never saw a failed mutation's write.
    assert [results[i].value for i in good_ids] == list(range(1, len(good_ids) + 1))  # type: ignore[union-attr]
    assert read(engine, lambda tx: tx.get(counter))["n"] == len(good_ids)  # type: ignore[index]
    logged = read(engine, lambda tx: tx.query("log").collect())
    assert [d["i"] for d in logged] == good_ids
    assert all("bad" not in d for d in logged)
    assert not any(name.startswith("ghost") for name in engine.catalog.tables)
    assert len(batches[0]) == len(good_ids)
    # The commit log agrees: only the good mutations left entries.
    with engine.storage.reader() as r:
        entries = r.commits_after(0, 1000)
    assert len(entries) == 1 + len(good_ids)


def test_a_failing_mutation_alone_in_its_batch_writes_nothing(engine: Engine) -> None:
    doc_id = mutate(engine, lambda tx: tx.insert("t", {"n": 0})).value
    ts_before = engine.latest_ts

    def body(tx: Transaction) -> None:
        tx.patch(doc_id, {"n": 1})
        tx.insert("t", {"n": 2})
        raise KeyError("nope")

    with pytest.raises(KeyError):
        mutate(engine, body)
    assert [d["n"] for d in read(engine, lambda tx: tx.query("t").collect())] == [0]
    assert engine.latest_ts == ts_before
    # The engine keeps working afterwards.
    assert mutate(engine, lambda tx: tx.patch(doc_id, {"n": 3})).ts > ts_before


def test_a_mutation_whose_record_cannot_be_stored_does_not_fail_its_batch(engine: Engine) -> None:
    """One mutation's unencodable idempotency record must not take the others down with it."""

    async def main() -> list[object]:
        return await asyncio.gather(
            engine.mutate(lambda tx: tx.insert("t", {"i": 0})),
            engine.mutate(lambda tx: object(), record_key="unencodable"),
            engine.mutate(lambda tx: tx.insert("t", {"i": 2})),
            return_exceptions=True,
        )

    first, middle, last = run(main())
    assert isinstance(middle, Exception)
    assert not isinstance(first, Exception), f"an unrelated mutation failed: {first!r}"
    assert not isinstance(last, Exception), f"an unrelated mutation failed: {last!r}"
    assert sorted(d["i"] for d in read(engine, lambda tx: tx.query("t").collect())) == [0, 2]
