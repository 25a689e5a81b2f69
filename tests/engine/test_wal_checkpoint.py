"""The SQLite log is copied into the database by a thread, not inside commits, and still starts
over (so its file stays small); nothing committed is lost across a close and reopen."""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import time
from collections.abc import Callable

import pytest

from livebase.engine import Engine
from livebase.storage import sqlite_checkpoint
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


def write(
    engine: Engine,
    count: int,
    start: int = 0,
    body: str = "",
    after_each: Callable[[], None] = lambda: None,
) -> None:
    async def run() -> None:
        for i in range(start, start + count):
            doc = {"n": float(i), "body": body} if body else {"n": float(i)}
            await engine.mutate(lambda tx, doc=doc: tx.insert("items", doc))
            after_each()

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


def test_writes_that_trickle_in_are_copied_by_count_not_by_the_clock(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write every 20 ms for longer than the idle time is not idle: the log is copied after
    ``COPY_EVERY_COMMITS`` commits or once they pause, not every ``IDLE_SECONDS`` (a pass and a
    sync of the database file every few writes)."""
    idle = 0.2
    monkeypatch.setattr(sqlite_checkpoint, "IDLE_SECONDS", idle)
    engine = make_engine()
    checkpointer = storage_of(engine).wal_checkpointer
    write(engine, 1)
    wait_for(lambda: checkpointer.copies >= 1, "the copy of what came before")
    copies = checkpointer.copies  # from here on nothing is left to copy
    count = COPY_EVERY_COMMITS - 8  # 0.8 s and more: four idle times
    times: list[float] = []

    def trickle() -> None:
        times.append(time.monotonic())
        time.sleep(0.02)

    write(engine, count, start=1, after_each=trickle)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # A gap as long as the idle time (a stalled test thread) is a pause, and may be copied.
    assert checkpointer.copies == copies or max(gaps) >= idle, (checkpointer.copies, max(gaps))
    wait_for(lambda: checkpointer.copies > copies, "the copy after writes pause")


def test_the_log_starts_over_and_nothing_is_lost(make_engine: EngineFactory) -> None:
    engine = make_engine()
    storage = storage_of(engine)
    path = str(storage.path)
    total = RESTART_COMMITS * 6
    write(engine, total)
    # One restart per cycle on a quiet machine; on one short of CPU (four busy loops and a disk
    # writer on two cores) the thread's pass can outlast a cycle of these tiny commits and the
    # writer's turn moves on: 2-4 of the 6 were seen there. The file stays small either way.
    assert storage.wal_checkpointer.restarts >= 2
    assert os.path.getsize(f"{path}-wal") < 8 << 20
    make_engine.close(engine)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reopened = make_engine(path=path)
    docs = reopened.read(lambda tx: tx.query("items").collect())[0]
    assert sorted(d["n"] for d in docs) == list(range(total))


def test_the_log_file_is_reused_not_cut_and_grown_again_when_it_starts_over(
    make_engine: EngineFactory,
) -> None:
    """A log that starts over is written again from its start over the file it has: a commit
    that overwrites needs a cheaper sync than one that grows the file (``fsync-per-commit``),
    and cutting the file back costs a sync of its own. So with commits of about 7 pages (each
    log cycle past 4 MiB), the file never shrinks while the log starts over and over."""
    engine = make_engine(durability="fsync-per-commit")
    storage = storage_of(engine)
    wal = f"{storage.path}-wal"
    sizes: list[int] = []
    write(engine, RESTART_COMMITS * 4, body="x" * 12_000, after_each=lambda: sizes.append(
        os.path.getsize(wal)))  # fmt: skip
    assert storage.wal_checkpointer.restarts >= 2
    assert max(sizes) > 4 << 20  # a cycle's pages do not fit in the old 4 MiB limit
    shrunk = [(i, a, b) for i, (a, b) in enumerate(itertools.pairwise(sizes)) if b < a]
    assert not shrunk, shrunk[:5]
