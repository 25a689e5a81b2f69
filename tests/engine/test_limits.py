"""Limits: document size, nesting depth, documents written, call duration — and nothing written."""

from __future__ import annotations

import time
from typing import Any

import pytest

from livebase.engine import Engine, Transaction
from livebase.errors import LimitExceededError, ValidationError

from .conftest import EngineFactory, limits, mutate, read

MIB = 1 << 20


def nested(levels: int) -> dict[str, Any]:
    """A document with ``levels`` levels of objects and arrays, the document itself included."""
    value: Any = 1
    for i in range(levels - 1):
        value = {"k": value} if i % 2 else [value]
    return {"v": value}


def count(engine: Engine, table: str) -> int:
    return len(read(engine, lambda tx: tx.query(table).collect()))


def test_document_over_1_mib_is_refused_and_nothing_written(engine: Engine) -> None:
    mutate(engine, lambda tx: tx.insert("t", {"s": "small"}))
    ts = engine.latest_ts
    with pytest.raises(LimitExceededError) as info:
        mutate(engine, lambda tx: [tx.insert("t", {"s": "ok"}), tx.insert("t", {"s": "x" * MIB})])
    assert info.value.code == "DocumentTooLarge"
    assert str(MIB) in str(info.value)
    assert count(engine, "t") == 1
    assert engine.latest_ts == ts
    with pytest.raises(LimitExceededError) as info:
        mutate(engine, lambda tx: tx.insert("fresh", {"s": "x" * MIB}))
    assert "fresh" not in engine.catalog.tables


def test_document_just_under_1_mib_is_accepted(engine: Engine) -> None:
    doc_id = mutate(engine, lambda tx: tx.insert("t", {"s": "x" * (MIB - 200)})).value
    assert len(read(engine, lambda tx: tx.get(doc_id))["s"]) == MIB - 200  # type: ignore[index]


def test_patch_that_grows_a_document_over_the_limit_changes_nothing(engine: Engine) -> None:
    doc_id = mutate(engine, lambda tx: tx.insert("t", {"s": "a", "n": 1})).value
    with pytest.raises(LimitExceededError) as info:
        mutate(engine, lambda tx: tx.patch(doc_id, {"s": "x" * MIB, "n": 2}))
    assert info.value.code == "DocumentTooLarge"
    doc = read(engine, lambda tx: tx.get(doc_id))
    assert (doc["s"], doc["n"]) == ("a", 1)  # type: ignore[index]


def test_document_size_limit_is_configurable(make_engine: EngineFactory) -> None:
    engine = make_engine(settings=limits(max_document_bytes=1000))
    with pytest.raises(LimitExceededError, match="1000"):
        mutate(engine, lambda tx: tx.insert("t", {"s": "x" * 1000}))
    mutate(engine, lambda tx: tx.insert("t", {"s": "x" * 500}))


def test_nesting_depth_16_accepted_17_rejected(engine: Engine) -> None:
    mutate(engine, lambda tx: tx.insert("t", nested(16)))
    with pytest.raises(ValidationError) as info:
        mutate(engine, lambda tx: tx.insert("t", nested(17)))
    assert "16" in str(info.value)
    assert count(engine, "t") == 1


def test_max_documents_written(make_engine: EngineFactory) -> None:
    engine = make_engine(settings=limits(max_documents_written=5))
    mutate(engine, lambda tx: [tx.insert("t", {"i": i}) for i in range(5)])
    with pytest.raises(LimitExceededError) as info:
        mutate(engine, lambda tx: [tx.insert("t", {"i": i}) for i in range(6)])
    assert info.value.code == "TooManyWrites"
    assert count(engine, "t") == 5


def test_max_bytes_written(make_engine: EngineFactory) -> None:
    engine = make_engine(settings=limits(max_bytes_written=10_000))
    with pytest.raises(LimitExceededError) as info:
        mutate(engine, lambda tx: [tx.insert("t", {"s": "x" * 1000}) for _ in range(20)])
    assert info.value.code == "TooManyBytesWritten"
    assert count(engine, "t") == 0


def test_max_bytes_read(make_engine: EngineFactory) -> None:
    engine = make_engine(settings=limits(max_bytes_read=10_000))
    mutate(engine, lambda tx: [tx.insert("t", {"s": "x" * 1000}) for _ in range(20)])
    with pytest.raises(LimitExceededError) as info:
        read(engine, lambda tx: tx.query("t").collect())
    assert info.value.code == "TooManyBytesRead"
    assert len(read(engine, lambda tx: tx.query("t").take(5))) == 5


def test_function_deadline_stops_a_mutation_and_writes_nothing(make_engine: EngineFactory) -> None:
    engine = make_engine(settings=limits(max_function_seconds=0.2))
    doc_id = mutate(engine, lambda tx: tx.insert("t", {"n": 0})).value
    ts = engine.latest_ts
    loops = []

    def slow(tx: Transaction) -> None:
        tx.patch(doc_id, {"n": 1})
        tx.insert("t", {"n": 2})
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            tx.get(doc_id)
            loops.append(1)

    started = time.monotonic()
    with pytest.raises(LimitExceededError) as info:
        mutate(engine, slow)
    assert info.value.code == "FunctionTimeout"
    # Loose for a loaded machine, yet well short of the 5 s the loop runs unstopped.
    assert time.monotonic() - started < 2.5, "the deadline did not stop the loop early"
    assert loops
    assert [d["n"] for d in read(engine, lambda tx: tx.query("t").collect())] == [0]
    assert engine.latest_ts == ts


def test_function_deadline_applies_to_queries(make_engine: EngineFactory) -> None:
    engine = make_engine(settings=limits(max_function_seconds=0.05))
    doc_id = mutate(engine, lambda tx: tx.insert("t", {"n": 0})).value

    def slow(tx: Transaction) -> None:
        end = time.monotonic() + 5.0  # far past the deadline, however slow the machine
        while time.monotonic() < end:
            tx.get(doc_id)

    with pytest.raises(LimitExceededError) as info:
        engine.read(slow)
    assert info.value.code == "FunctionTimeout"
