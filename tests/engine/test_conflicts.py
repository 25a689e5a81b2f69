"""Another writer holding the database (another process on the SQLite file, another node on
PostgreSQL): mutations are retried, or fail with ConflictError."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from livebase.config import Settings
from livebase.engine import Engine
from livebase.errors import ConflictError
from livebase.storage.postgres import PostgresStorage, split_url

from .conftest import EngineFactory, mutate, read, run


@contextmanager
def external_writer(engine: Engine, hold_seconds: float) -> Iterator[threading.Timer]:
    """Another connection that holds the write lock for ``hold_seconds``: ``BEGIN IMMEDIATE``
    on the SQLite file, or the commit-clock row lock on PostgreSQL."""
    storage: Any = engine.storage
    conn: Any
    if isinstance(storage, PostgresStorage):
        import psycopg

        conninfo, schema = split_url(storage.url)
        conn = psycopg.connect(conninfo, autocommit=True)
        conn.execute("BEGIN")
        conn.execute(f'SELECT ts FROM "{schema}".lb_clock FOR UPDATE')
    else:
        conn = sqlite3.connect(storage.path, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release() -> None:
        conn.execute("COMMIT")
        released.set()

    timer = threading.Timer(hold_seconds, release)
    timer.start()
    try:
        yield timer
    finally:
        timer.join()
        released.wait(5)
        conn.close()


def busy_timeout_seconds(engine: Engine) -> float:
    storage: Any = engine.storage
    if isinstance(storage, PostgresStorage):
        return storage.lock_timeout_ms / 1000
    return int(storage._write_conn.execute("PRAGMA busy_timeout").fetchone()[0]) / 1000


def test_mutation_succeeds_while_another_writer_briefly_holds_the_database(
    engine: Engine,
) -> None:
    doc_id = mutate(engine, lambda tx: tx.insert("t", {"n": 0})).value
    with external_writer(engine, 0.3):
        started = time.monotonic()
        outcome = mutate(engine, lambda tx: tx.patch(doc_id, {"n": 1}))
        waited = time.monotonic() - started
    assert outcome.replayed is False
    assert read(engine, lambda tx: tx.get(doc_id))["n"] == 1  # type: ignore[index]
    assert waited >= 0.25, "the mutation cannot have committed while the other writer held the db"
    assert waited < 5


def test_event_loop_stays_responsive_while_the_database_is_held(engine: Engine) -> None:
    """Waiting for the lock must be a retry with back-off, not a long block of the event loop."""
    mutate(engine, lambda tx: tx.insert("t", {"n": 0}))
    hold = 0.6

    async def main() -> tuple[float, object]:
        ticks: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        outcome = await engine.mutate(lambda tx: tx.insert("t", {"n": 1}))
        stop.set()
        await task
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        return max(gaps), outcome

    with external_writer(engine, hold):
        max_gap, _ = run(main())
    assert max_gap < 0.25, (
        f"the event loop was blocked for {max_gap:.3f} s while waiting for the database "
        f"(busy_timeout={busy_timeout_seconds(engine):.3f} s)"
    )


def test_no_retries_and_a_long_hold_gives_conflict_error(make_engine: EngineFactory) -> None:
    engine = make_engine(settings=Settings(mutation_retries=0))
    doc_id = mutate(engine, lambda tx: tx.insert("t", {"n": 0})).value
    hold = busy_timeout_seconds(engine) + 0.4
    calls = []

    def body(tx):  # type: ignore[no-untyped-def]
        calls.append(1)
        tx.patch(doc_id, {"n": 1})

    with external_writer(engine, hold), pytest.raises(ConflictError) as info:
        mutate(engine, body)
    assert info.value.code == "OptimisticConcurrencyControlFailure"
    assert read(engine, lambda tx: tx.get(doc_id))["n"] == 0  # type: ignore[index]
    # Once the other writer is gone, the engine works normally again.
    assert mutate(engine, lambda tx: tx.patch(doc_id, {"n": 2})).ts > 0
    assert read(engine, lambda tx: tx.get(doc_id))["n"] == 2  # type: ignore[index]


def test_reads_work_while_another_writer_holds_the_database(engine: Engine) -> None:
    doc_id = mutate(engine, lambda tx: tx.insert("t", {"n": 7})).value
    with external_writer(engine, 0.3):
        started = time.monotonic()
        assert read(engine, lambda tx: tx.get(doc_id))["n"] == 7  # type: ignore[index]
        assert time.monotonic() - started < 0.2
