"""The SQLite log is copied into the database by a thread, not inside commits, and still starts
over (so its file stays small); nothing committed is lost across a close and reopen."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time

import pytest

from livebase.engine import Engine
from livebase.storage.sqlite import SqliteStorage
from livebase.storage.sqlite_checkpoint import COPY_EVERY_COMMITS, RESTART_COMMITS

from .conftest import EngineFactory


@pytest.fixture
def backend() -> str:
    """The write-ahead log and its checkpoints are SQLite's."""
    return "sqlite"


def storage_of(engine: Engine) -> SqliteStorage:
    storage = engine.storage
    assert isinstance(storage, SqliteStorage)
    return storage


def write(engine: Engine, count: int, start: int = 0) -> None:
    async def run() -> None:
        for i in range(start, start + count):
            await engine.mutate(lambda tx, i=i: tx.insert("items", {"n": float(i)}))

    asyncio.run(run())


def wait_for(condition: object, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.01)


@pytest.mark.parametrize("durability", ["normal", "fsync-per-commit"])
def test_the_thread_copies_the_log_before_the_writer_would(
    make_engine: EngineFactory, durability: str
) -> None:
    engine = make_engine(durability=durability)
    checkpointer = storage_of(engine).wal_checkpointer
    write(engine, COPY_EVERY_COMMITS + 5)
    wait_for(lambda: checkpointer.copies >= 1, "a background copy")
    assert checkpointer.restarts == 0  # the writer has not checkpointed anything itself


def test_a_pause_in_writes_gets_the_log_copied(make_engine: EngineFactory) -> None:
    engine = make_engine()
    checkpointer = storage_of(engine).wal_checkpointer
    write(engine, 3)  # far fewer than COPY_EVERY_COMMITS
    wait_for(lambda: checkpointer.copies >= 1, "the copy after writes pause")


def test_the_log_starts_over_and_nothing_is_lost(make_engine: EngineFactory) -> None:
    engine = make_engine()
    storage = storage_of(engine)
    path = str(storage.path)
    total = RESTART_COMMITS * 6
    write(engine, total)
    assert storage.wal_checkpointer.restarts >= 5
    assert os.path.getsize(f"{path}-wal") < 8 << 20
    make_engine.close(engine)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reopened = make_engine(path=path)
    docs = reopened.read(lambda tx: tx.query("items").collect())[0]
    assert sorted(d["n"] for d in docs) == list(range(total))
