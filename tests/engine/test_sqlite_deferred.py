"""A SQLite write transaction queues its writes from its first savepoint on and runs them
together: one statement per table for a batch of mutations, in order within each table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from livebase.storage.base import Durability
from livebase.storage.sqlite import SqliteStorage

MAX = b"\xff\xff"


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[SqliteStorage]:
    opened = SqliteStorage(tmp_path / "db.sqlite3", Durability.NORMAL)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def statements(storage: SqliteStorage) -> Iterator[list[str]]:
    """Every statement the writer's connection runs, as SQLite sees it."""
    ran: list[str] = []
    storage._write_conn.set_trace_callback(ran.append)
    yield ran
    storage._write_conn.set_trace_callback(None)


def run_of(ran: list[str], start: int) -> list[str]:
    return [sql.split(" (")[0].split(" VALUES")[0] for sql in ran[start:]]


def test_a_batch_of_savepointed_mutations_runs_one_statement_per_table(
    storage: SqliteStorage, statements: list[str]
) -> None:
    with storage.writer() as w:
        start = len(statements)
        for i in range(10):
            w.savepoint()
            w.put_document(f"d{i}", 1, f'{{"i": {i}}}')
            w.put_index_entries([(1, b"k%02d" % i, f"d{i}"), (2, b"x%02d" % i, f"d{i}")])
            w.append_commit(w.latest_ts() + 1, f"entry {i}")
            w.release_savepoint()
        assert statements[start:] == []  # all 50 statements are still queued
    assert run_of(statements, start) == [
        "INSERT OR REPLACE INTO documents",
        "INSERT INTO indexes",
        "INSERT INTO commits",
        "COMMIT",
    ]
    with storage.reader() as r:
        assert len(r.scan_index(1, b"", MAX, reverse=False, limit=100)) == 10
        assert len(r.scan_index(2, b"", MAX, reverse=False, limit=100)) == 10
        assert r.get_document("d9") == '{"i": 9}'
        assert [e for _, e in r.commits_after(0, 100)] == [f"entry {i}" for i in range(10)]


def test_a_transaction_without_savepoints_writes_as_it_goes(
    storage: SqliteStorage, statements: list[str]
) -> None:
    with storage.writer() as w:
        start = len(statements)
        w.put_document("a", 1, "{}")
        assert run_of(statements, start) == ["INSERT OR REPLACE INTO documents"]
        w.put_index_entries([(1, b"a", "a"), (2, b"a", "a")])
        assert len(statements) - start == 2  # both entries in one statement


def test_a_run_keeps_the_order_of_writes_to_one_table(storage: SqliteStorage) -> None:
    """Inserts of different tables may run grouped; a table's own writes keep their order."""
    with storage.writer() as w:
        w.savepoint()
        w.set_global("g", "first")
        w.put_document("d", 1, "v1")
        w.delete_global("g")  # a statement of another kind: the run before it runs first
        w.set_global("g", "second")
        w.put_document("d", 1, "v2")  # the same key twice in one run: the later one stays
        w.set_global("h", "1")
        w.put_document("d", 1, "v3")
        w.release_savepoint()
        w.savepoint()
        w.put_document("d", 1, "undone")
        w.delete_document("e")
        w.rollback_to_savepoint()  # never ran: dropped from the queue
    with storage.reader() as r:
        assert r.get_document("d") == "v3"
        assert (r.get_global("g"), r.get_global("h")) == ("second", "1")


def test_a_failing_queued_write_fails_the_transaction_and_leaves_nothing(
    storage: SqliteStorage,
) -> None:
    with storage.writer() as w:
        w.put_document("a", 1, "A")
        w.put_index_entry(1, b"taken", "a")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"), storage.writer() as w:
        w.savepoint()
        w.put_document("b", 1, "{}")
        w.put_index_entry(1, b"taken", "b")  # runs at the commit, and fails there
        w.release_savepoint()
    with storage.reader() as r:
        assert r.get_document("b") is None
        assert [row.document for row in r.scan_index(1, b"", MAX, reverse=False, limit=9)] == ["A"]
    with storage.writer() as w:  # the writer is usable again
        w.put_document("c", 1, "{}")
    with storage.reader() as r:
        assert r.get_document("c") == "{}"


def test_a_write_that_fails_on_a_later_read_poisons_the_transaction(
    storage: SqliteStorage,
) -> None:
    """The engine catches a mutation's error and goes on with the batch: a queued write of an
    earlier mutation that failed when a read ran the queue must still fail the commit."""
    with storage.writer() as w:
        w.put_index_entry(1, b"taken", "a")
    with pytest.raises(sqlite3.OperationalError, match="earlier write"), storage.writer() as w:
        w.savepoint()
        w.put_document("b", 1, "{}")
        w.put_index_entry(1, b"taken", "b")
        w.release_savepoint()  # the first mutation is done, its writes queued
        w.savepoint()
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            w.get_document("x")  # the second one reads: the queue runs and fails
        w.rollback_to_savepoint()  # as the engine does for the mutation that raised
        w.savepoint()
        w.put_document("c", 1, "{}")
        w.release_savepoint()
    with storage.reader() as r:
        assert (r.get_document("b"), r.get_document("c")) == (None, None)
