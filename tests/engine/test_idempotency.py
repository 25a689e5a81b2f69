"""Idempotency records: a mutation sent twice with one key runs once and replays its outcome;
records expire after ``idempotency_retention_seconds``, oldest first."""

from __future__ import annotations

import asyncio

from livebase.config import Settings
from livebase.engine import Engine, Transaction
from livebase.engine.retention import prune_idempotency_records
from livebase.runtime import FakeRuntime

from .conftest import EngineFactory, mutate, raw_rows, read, run


def counting_insert(calls: list[int]):  # type: ignore[no-untyped-def]
    def body(tx: Transaction) -> dict[str, object]:
        calls.append(1)
        doc_id = tx.insert("t", {"n": len(calls)})
        return {"id": doc_id, "n": len(calls)}

    return body


def test_second_call_is_replayed_with_the_same_value_and_ts(engine: Engine) -> None:
    calls: list[int] = []
    first = mutate(engine, counting_insert(calls), record_key="req-1")
    mutate(engine, lambda tx: tx.insert("t", {"n": 99}))  # time moves on
    second = mutate(engine, counting_insert(calls), record_key="req-1")
    assert first.replayed is False
    assert second.replayed is True
    assert second.value == first.value
    assert second.ts == first.ts
    assert len(calls) == 1
    assert sorted(d["n"] for d in read(engine, lambda tx: tx.query("t").collect())) == [1, 99]
    # Another key runs the body again.
    third = mutate(engine, counting_insert(calls), record_key="req-2")
    assert third.replayed is False and len(calls) == 2


def test_encode_and_decode_are_applied(engine: Engine) -> None:
    calls: list[int] = []
    kwargs = {
        "record_key": "req-x",
        "encode": lambda value: {"wrapped": list(value)},
        "decode": lambda stored: tuple(stored["wrapped"]),
    }

    def body(tx: Transaction) -> tuple[int, int]:
        calls.append(1)
        return (1, 2)

    first = mutate(engine, body, **kwargs)
    second = mutate(engine, body, **kwargs)
    assert first.value == (1, 2) and second.value == (1, 2) and second.replayed
    assert len(calls) == 1


def test_same_key_twice_in_one_batch_runs_once(engine: Engine) -> None:
    calls: list[int] = []

    async def main() -> list[object]:
        return await asyncio.gather(
            engine.mutate(counting_insert(calls), record_key="dup"),
            engine.mutate(counting_insert(calls), record_key="dup"),
        )

    a, b = run(main())
    assert len(calls) == 1
    assert a.value == b.value and a.ts == b.ts  # type: ignore[attr-defined]
    assert [a.replayed, b.replayed] == [False, True]  # type: ignore[attr-defined]
    assert len(read(engine, lambda tx: tx.query("t").collect())) == 1


def test_failed_mutation_leaves_no_record(engine: Engine) -> None:
    attempts: list[int] = []

    def flaky(tx: Transaction) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            tx.insert("t", {"n": 0})
            raise RuntimeError("first try fails")
        return tx.insert("t", {"n": 1})

    try:
        mutate(engine, flaky, record_key="k")
    except RuntimeError:
        pass
    outcome = mutate(engine, flaky, record_key="k")
    assert outcome.replayed is False and len(attempts) == 2
    assert [d["n"] for d in read(engine, lambda tx: tx.query("t").collect())] == [1]


def test_record_survives_reopening_the_engine(make_engine: EngineFactory) -> None:
    engine = make_engine(durability="fsync-per-commit")
    calls: list[int] = []
    first = mutate(engine, counting_insert(calls), record_key="req-durable")
    engine = make_engine.reopen(engine, durability="fsync-per-commit")
    second = mutate(engine, counting_insert(calls), record_key="req-durable")
    assert second.replayed is True
    assert second.value == first.value and second.ts == first.ts
    assert len(calls) == 1
    assert len(read(engine, lambda tx: tx.query("t").collect())) == 1


def test_read_only_mutation_record_replays_its_ts(engine: Engine) -> None:
    mutate(engine, lambda tx: tx.insert("t", {"n": 1}))
    first = mutate(engine, lambda tx: len(tx.query("t").collect()), record_key="ro")
    mutate(engine, lambda tx: tx.insert("t", {"n": 2}))
    second = mutate(engine, lambda tx: len(tx.query("t").collect()), record_key="ro")
    assert second.replayed and second.value == first.value == 1 and second.ts == first.ts


# -- expiry ----------------------------------------------------------------------------------


def records(engine: Engine) -> list[str]:
    rows = raw_rows(engine, "SELECT key FROM globals WHERE key LIKE 'request:%'")
    return sorted(str(key) for (key,) in rows)


def test_records_expire_after_the_retention_window_oldest_first(make_engine: EngineFactory) -> None:
    clock = FakeRuntime()
    engine = make_engine(settings=Settings(idempotency_retention_seconds=60), runtime=clock)
    calls: list[int] = []
    for n in range(5):
        mutate(engine, counting_insert(calls), record_key=f"request:{n}")
        clock.advance(10)
    # Now t=50: records of t=0..40. Nothing is older than 60 s yet.
    assert run(prune_idempotency_records(engine)) == 0
    clock.advance(35)  # t=85: the window keeps t >= 25, so records 0, 1 and 2 go
    assert run(prune_idempotency_records(engine)) == 3
    assert records(engine) == ["request:3", "request:4"]
    # An expired key runs again (and is stored again); a kept one is still replayed.
    again = mutate(engine, counting_insert(calls), record_key="request:0")
    kept = mutate(engine, counting_insert(calls), record_key="request:4")
    assert again.replayed is False and kept.replayed is True and len(calls) == 6
    # Pruning works in batches from the oldest: with a limit of 1, one at a time.
    clock.advance(1000)
    assert engine.prune_idempotency_records(clock.time_ns(), limit=1) == 1
    assert records(engine) == ["request:0", "request:4"]
    assert engine.prune_idempotency_records(clock.time_ns(), limit=10) == 2
    assert records(engine) == []
    assert raw_rows(engine, "SELECT key FROM globals WHERE key LIKE 'request-at:%'") == []


def test_records_from_before_expiry_are_dated_then_expire(make_engine: EngineFactory) -> None:
    clock = FakeRuntime()
    engine = make_engine(settings=Settings(idempotency_retention_seconds=60), runtime=clock)
    legacy = '{"value": 1, "ts": 0, "fingerprint": null}'
    with engine.storage.writer() as w:  # as an earlier version stored them: no date
        for n in range(25):
            w.set_global(f"request:old-{n:02d}", legacy)
        w.delete_global("request-at-backfilled")
    settings = Settings(idempotency_retention_seconds=60)
    engine = make_engine.reopen(engine, settings=settings, runtime=clock)
    # The first passes date them (10 per pass here), and drop nothing.
    assert engine.prune_idempotency_records(clock.time_ns(), limit=10) == 0
    assert engine.prune_idempotency_records(clock.time_ns(), limit=10) == 0
    assert engine.prune_idempotency_records(clock.time_ns(), limit=10) == 0
    assert len(records(engine)) == 25
    clock.advance(61)
    assert run(prune_idempotency_records(engine)) == 25
    assert records(engine) == []
