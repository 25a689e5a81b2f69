"""Idempotency records: a mutation sent twice with one key runs once and replays its outcome."""

from __future__ import annotations

import asyncio

from livebase.engine import Engine, Transaction

from .conftest import EngineFactory, mutate, read, run


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
