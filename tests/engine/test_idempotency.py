"""Idempotency records: a mutation sent twice with one key runs once and replays its outcome;
records expire after ``idempotency_retention_seconds``: an expired one answers nobody, and a
sweep in bounded passes deletes it (records stored with an age marker expire by the marker)."""

from __future__ import annotations

import asyncio

from livebase.config import Settings
from livebase.engine import Engine, Transaction, idempotency
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


def markers(engine: Engine) -> list[str]:
    rows = raw_rows(engine, "SELECT key FROM globals WHERE key LIKE 'request-at:%'")
    return sorted(str(key) for (key,) in rows)


def test_records_expire_after_the_retention_window(make_engine: EngineFactory) -> None:
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
    assert records(engine) == ["request:0", "request:3", "request:4"]
    clock.advance(1000)
    assert run(prune_idempotency_records(engine)) == 3
    assert records(engine) == []
    # A keyed commit writes its record and nothing else: no age marker.
    assert markers(engine) == []


def test_an_expired_record_answers_nobody_before_the_sweep_removes_it(
    make_engine: EngineFactory,
) -> None:
    clock = FakeRuntime()
    engine = make_engine(settings=Settings(idempotency_retention_seconds=60), runtime=clock)
    calls: list[int] = []
    first = mutate(engine, counting_insert(calls), record_key="request:k")
    clock.advance(61)  # expired, and no sweep has run
    again = mutate(engine, counting_insert(calls), record_key="request:k")
    assert again.replayed is False and again.value != first.value and len(calls) == 2
    # The call that ran again stored its own record, which answers the next resend.
    third = mutate(engine, counting_insert(calls), record_key="request:k")
    assert third.replayed is True and third.value == again.value and len(calls) == 2


def test_the_sweep_goes_in_passes_and_a_cycle_waits_an_eighth_of_the_retention(
    make_engine: EngineFactory,
) -> None:
    clock = FakeRuntime()
    engine = make_engine(settings=Settings(idempotency_retention_seconds=80), runtime=clock)
    for n in range(25):
        mutate(engine, lambda tx: None, record_key=f"request:{n:02d}")
    clock.advance(81)
    mutate(engine, lambda tx: None, record_key="request:zz-fresh")
    before = clock.time_ns() - 80 * 10**9
    # Ten records a pass, in key order; the fresh one is read and kept.
    assert engine.sweep_idempotency_records(before, rows=10) == (10, False)
    assert records(engine)[:2] == ["request:10", "request:11"]
    assert engine.sweep_idempotency_records(before, rows=10) == (10, False)
    assert engine.sweep_idempotency_records(before, rows=10) == (5, True)
    assert records(engine) == ["request:zz-fresh"]
    # The next cycle begins an eighth of the retention (10 s) after this one began.
    clock.advance(200)
    mutate(engine, lambda tx: None, record_key="request:later")
    clock.advance(81)
    before = clock.time_ns() - 80 * 10**9
    assert engine.sweep_idempotency_records(before, rows=10) == (2, True)  # a cycle began now
    mutate(engine, lambda tx: None, record_key="request:latest")
    everything = clock.time_ns() + 1  # count every record as expired
    assert engine.sweep_idempotency_records(everything, rows=10) == (0, True)  # not due
    clock.advance(9.9)
    assert engine.sweep_idempotency_records(everything, rows=10) == (0, True)
    assert records(engine) == ["request:latest"]
    clock.advance(0.1)
    assert engine.sweep_idempotency_records(everything, rows=10) == (1, True)
    assert records(engine) == []


def test_records_stored_with_an_age_marker_still_expire_by_it(make_engine: EngineFactory) -> None:
    clock = FakeRuntime()
    engine = make_engine(settings=Settings(idempotency_retention_seconds=60), runtime=clock)
    mutate(engine, lambda tx: None)  # the database exists, its backfill is done
    older = '{"value": 1, "ts": 0, "fingerprint": null}'  # as the version before stored them
    with engine.storage.writer() as w:
        for n in range(3):
            key = f"request:marked-{n}"
            w.set_global(key, older)
            w.set_global(idempotency.marker_key(clock.time_ns() + n * 10**9, key), key)
    clock.advance(59)
    assert run(prune_idempotency_records(engine)) == 0  # the sweep leaves undated records
    assert len(records(engine)) == 3
    clock.advance(2.5)  # the first two markers are older than 60 s now
    assert run(prune_idempotency_records(engine)) == 2
    assert records(engine) == ["request:marked-2"] and len(markers(engine)) == 1


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
