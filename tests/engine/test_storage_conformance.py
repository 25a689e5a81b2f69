"""The storage interface contract, run against every backend: SQLite files and the real
PostgreSQL server (a fresh schema per test; see ``tests/support/postgres.py``)."""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from livebase.storage import Storage, open_storage
from livebase.storage.base import ClockedCommit, CommitInFlight, ExpectationFailed
from livebase.storage.sqlite import SqliteStorage, StorageLockedError
from tests.support.postgres import fresh_database_url

BACKENDS = ["sqlite", "postgres"]
MAX = b"\xff\xff"

Opener = Callable[[], Storage]


@contextmanager
def open_backend(backend: str, tmp_path: Path) -> Iterator[Opener]:
    """A function that opens (or reopens) one database of ``backend``."""
    if backend == "sqlite":
        path = tmp_path / "conformance.sqlite3"
        yield lambda: open_storage(path, "normal")
    elif backend == "postgres":
        with fresh_database_url() as url:
            yield lambda: open_storage(url, "normal")
    else:
        raise AssertionError(f"unknown backend {backend!r}")


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    with open_backend(request.param, tmp_path) as base:
        yield from _opened(base)


def _opened(base: Opener) -> Iterator[Opener]:
    opened: list[Storage] = []

    def open_() -> Storage:
        storage = base()
        opened.append(storage)
        return storage

    yield open_
    for storage in opened:
        if not getattr(storage, "_closed_by_test", False):
            storage.close()


@pytest.fixture
def storage(opener: Opener) -> Storage:
    return opener()


def close(storage: Storage) -> None:
    storage.close()
    storage._closed_by_test = True  # type: ignore[attr-defined]


def fill_index(storage: Storage, index_id: int = 7) -> list[bytes]:
    keys = [bytes([i]) + b"k" for i in (5, 1, 9, 3, 7)]
    with storage.writer() as w:
        for i, key in enumerate(keys):
            w.put_document(f"doc{i}", 1, f'{{"i": {i}}}')
            w.put_index_entry(index_id, key, f"doc{i}")
        # Another index with overlapping keys must never show up.
        w.put_index_entry(index_id + 1, keys[0], "doc0")
    return sorted(keys)


def test_documents_put_get_replace_delete(storage: Storage) -> None:
    with storage.writer() as w:
        w.put_document("a", 10001, '{"x": 1}')
        w.put_document("b", 10001, '{"x": 2}')
        assert w.get_document("a") == '{"x": 1}'  # a writer reads its own writes
    with storage.reader() as r:
        assert r.get_document("a") == '{"x": 1}'
        assert r.get_document("missing") is None
    with storage.writer() as w:
        w.put_document("a", 10001, '{"x": 3}')
        w.delete_document("b")
    with storage.reader() as r:
        assert r.get_document("a") == '{"x": 3}'
        assert r.get_document("b") is None
    assert sorted(storage.iter_documents()) == ['{"x": 3}']


def test_scan_index_order_bounds_reverse_limit(storage: Storage) -> None:
    keys = fill_index(storage)
    with storage.reader() as r:
        rows = r.scan_index(7, b"", MAX, reverse=False, limit=100)
        assert [row.key for row in rows] == keys
        assert rows[0].document == '{"i": 1}'  # the row carries the document it points at
        assert [row.key for row in r.scan_index(7, b"", MAX, reverse=True, limit=100)] == keys[::-1]
        # lo inclusive, hi exclusive
        assert [
            row.key for row in r.scan_index(7, keys[1], keys[3], reverse=False, limit=100)
        ] == keys[1:3]
        assert [row.key for row in r.scan_index(7, keys[1], keys[3], reverse=True, limit=100)] == [
            keys[2],
            keys[1],
        ]
        assert [row.key for row in r.scan_index(7, b"", MAX, reverse=False, limit=2)] == keys[:2]
        assert [row.key for row in r.scan_index(7, b"", MAX, reverse=True, limit=2)] == keys[::-1][
            :2
        ]
        assert r.scan_index(7, keys[2], keys[2], reverse=False, limit=10) == []
        assert r.scan_index(99, b"", MAX, reverse=False, limit=10) == []
        assert [row.key for row in r.scan_index(8, b"", MAX, reverse=False, limit=10)] == [b"\x05k"]


def test_keys_compare_as_unsigned_bytes(storage: Storage) -> None:
    keys = [b"\x00", b"\x00\x00", b"\x01", b"\x7f", b"\x80", b"\xfe\xff", b"\xff"]
    with storage.writer() as w:
        w.put_document("d", 1, "{}")
        for key in reversed(keys):
            w.put_index_entry(3, key, "d")
    with storage.reader() as r:
        assert [row.key for row in r.scan_index(3, b"", MAX, reverse=False, limit=100)] == keys


def test_delete_and_drop_index_entries(storage: Storage) -> None:
    keys = fill_index(storage)
    with storage.writer() as w:
        w.delete_index_entry(7, keys[0])
    with storage.reader() as r:
        assert [row.key for row in r.scan_index(7, b"", MAX, reverse=False, limit=10)] == keys[1:]
    with storage.writer() as w:
        w.drop_index(7)
    with storage.reader() as r:
        assert r.scan_index(7, b"", MAX, reverse=False, limit=10) == []
        assert len(r.scan_index(8, b"", MAX, reverse=False, limit=10)) == 1


def test_globals(storage: Storage) -> None:
    with storage.reader() as r:
        assert r.get_global("k") is None
    with storage.writer() as w:
        w.set_global("k", "v1")
        assert w.get_global("k") == "v1"
        w.set_global("k", "v2")
    with storage.reader() as r:
        assert r.get_global("k") == "v2"


def test_globals_are_deleted_one_by_one_or_taken_by_key_range(storage: Storage) -> None:
    keys = ["a", "m:1", "m:2", "m:3", "m:\u00e9", "n"]
    with storage.writer() as w:
        for key in keys:
            w.set_global(key, f"value of {key}")
    with storage.writer() as w:
        w.delete_global("a")
        w.delete_global("missing")
        # Bytewise order on every backend: "m:3" < "m:\u00e9" < "n".
        assert w.take_globals("m:", "m;", 2) == [("m:1", "value of m:1"), ("m:2", "value of m:2")]
        assert w.take_globals("m:", "m:\u00e9", 10) == [("m:3", "value of m:3")]
        assert w.take_globals("m:", "m:\u00e9", 10) == []
    with storage.reader() as r:
        assert [k for k in keys if r.get_global(k) is not None] == ["m:\u00e9", "n"]


def test_commit_log(storage: Storage) -> None:
    with storage.reader() as r:
        assert r.latest_ts() == 0
        assert r.commits_after(0, 10) == []
    with storage.writer() as w:
        w.append_commit(100, "a")
        w.append_commit(200, "b")
    with storage.writer() as w:
        w.append_commit(300, "c")
    with storage.reader() as r:
        assert r.latest_ts() == 300
        assert r.commits_after(0, 10) == [(100, "a"), (200, "b"), (300, "c")]
        assert r.commits_after(100, 10) == [(200, "b"), (300, "c")]
        assert r.commits_after(150, 1) == [(200, "b")]
        assert r.commits_after(300, 10) == []


def test_tail_reads_commits_and_globals_together(storage: Storage) -> None:
    with storage.writer() as w:
        w.set_global("catalog", "c1")
        w.set_global("odd key with spaces", "v")
        for ts in (100, 200, 300):
            w.append_commit(ts, f"e{ts}")
    with storage.writer() as w:
        tail = w.tail(100, 10, ["catalog", "missing", "odd key with spaces"])
    assert tail.commits == [(200, "e200"), (300, "e300")] and tail.complete
    assert tail.values == {"catalog": "c1", "odd key with spaces": "v"}
    cut = storage.read_tail(0, 2, ["catalog"])
    assert (cut.commits, cut.complete, cut.values) == ([(100, "e100"), (200, "e200")], False,
                                                       {"catalog": "c1"})  # fmt: skip


def test_commit_at_clock_checks_globals_then_logs_after_the_clock(storage: Storage) -> None:
    with storage.writer() as w:
        w.set_global("catalog", "c1")
        w.append_commit(1_000, "first")
    with storage.writer() as w:
        w.put_document("d1", 1, "{}")
        done = w.commit_at_clock(
            [(5, "a"), (2_000, "b"), (1_500, "c")], 0, 10, {"catalog": "c1", "record": None}
        )
    # Each after the previous and at least its own floor: 1001, 2000, 2001.
    assert (done.start_ts, done.timestamps) == (1_000, [1_001, 2_000, 2_001])
    assert done.tail.commits == [(1_000, "first")] and done.tail.values == {"catalog": "c1"}
    with storage.reader() as r:
        assert r.latest_ts() == 2_001
        assert [ts for ts, _ in r.commits_after(0, 10)] == [1_000, 1_001, 2_000, 2_001]
        assert r.get_document("d1") == "{}"
    for expect in ({"catalog": "c2"}, {"catalog": "c1", "record": None, "other": "x"}):
        with pytest.raises(ExpectationFailed), storage.writer() as w:
            w.put_document("d2", 1, "{}")
            w.set_global("record", "made")
            w.commit_at_clock([(0, "never")], 0, 10, expect)
    with storage.reader() as r:  # a failed expectation keeps nothing of the transaction
        assert (r.latest_ts(), r.get_document("d2"), r.get_global("record")) == (2_001, None, None)


def _answer(sent: CommitInFlight, deadline_s: float = 10.0) -> ClockedCommit:
    """Move a sent commit on as an event loop would (when its socket is ready) until done."""
    deadline = time.monotonic() + deadline_s
    while not sent.poll():
        assert time.monotonic() < deadline, "the sent commit was never answered"
        assert sent.fileno >= 0  # a commit that is not done yet has a socket to wait on
        select.select([sent.fileno], [sent.fileno] if sent.wants_write else [], [], 0.5)
    return sent.result()


def test_send_at_clock_commits_like_commit_at_clock_and_answers_when_polled(
    storage: Storage,
) -> None:
    with storage.writer() as w:
        w.set_global("catalog", "c1")
        w.append_commit(1_000, "first")
    sent = storage.send_at_clock(
        lambda w: w.put_document("d1", 1, "{}"), [(5, "a"), (2_000, "b")], 0, 10,
        {"catalog": "c1", "record": None},
    )  # fmt: skip
    done = _answer(sent)
    assert (done.start_ts, done.timestamps) == (1_000, [1_001, 2_000])
    assert done.tail.commits == [(1_000, "first")] and done.tail.values == {"catalog": "c1"}
    with storage.reader() as r:
        assert (r.latest_ts(), r.get_document("d1")) == (2_000, "{}")
    # A failed expectation is raised by result() and keeps nothing; the next send works.
    failed = storage.send_at_clock(
        lambda w: w.put_document("d2", 1, "{}"), [(0, "never")], 0, 10, {"catalog": "c2"}
    )
    with pytest.raises(ExpectationFailed):
        _answer(failed)
    with storage.reader() as r:
        assert (r.latest_ts(), r.get_document("d2")) == (2_000, None)
    # Nothing to check: an empty list of globals (an array with no type on PostgreSQL).
    last = _answer(storage.send_at_clock(lambda w: None, [(0, "c")], 2_000, 10, {}))
    assert (last.timestamps, last.tail.values) == ([2_001], {})


def test_writer_latest_ts_sees_its_own_commit_entries(storage: Storage) -> None:
    """A writer "reads its own uncommitted writes"; latest_ts is a read of the commit log."""
    with storage.writer() as w:
        w.append_commit(100, "a")
    with storage.writer() as w:
        assert w.latest_ts() == 100
        w.append_commit(200, "b")
        assert w.latest_ts() == 200


def test_writer_rolls_back_on_exception(storage: Storage) -> None:
    with storage.writer() as w:
        w.put_document("keep", 1, "{}")
        w.append_commit(1, "first")
    with pytest.raises(RuntimeError), storage.writer() as w:
        w.put_document("gone", 1, "{}")
        w.put_index_entry(1, b"k", "gone")
        w.set_global("g", "x")
        w.append_commit(2, "second")
        raise RuntimeError("abort")
    with storage.reader() as r:
        assert r.get_document("gone") is None
        assert r.get_document("keep") == "{}"
        assert r.scan_index(1, b"", MAX, reverse=False, limit=10) == []
        assert r.get_global("g") is None
        assert r.latest_ts() == 1
    with storage.writer() as w:
        assert w.latest_ts() == 1
        w.append_commit(2, "second, again")  # the rolled-back timestamp is free
    with storage.reader() as r:
        assert r.commits_after(0, 10) == [(1, "first"), (2, "second, again")]


def test_savepoint_rollback_and_release(storage: Storage) -> None:
    with storage.writer() as w:
        w.put_document("before", 1, "{}")
        w.savepoint()
        w.put_document("undone", 1, "{}")
        w.put_index_entry(1, b"u", "undone")
        w.set_global("g", "undone")
        w.rollback_to_savepoint()
        assert w.get_document("undone") is None
        w.savepoint()
        w.put_document("kept", 1, "{}")
        w.release_savepoint()
        w.savepoint()  # a savepoint can be used again after a rollback or release
        w.put_document("undone2", 1, "{}")
        w.rollback_to_savepoint()
    with storage.reader() as r:
        assert r.get_document("before") == "{}"
        assert r.get_document("kept") == "{}"
        assert r.get_document("undone") is None
        assert r.get_document("undone2") is None
        assert r.scan_index(1, b"", MAX, reverse=False, limit=10) == []
        assert r.get_global("g") is None


def test_nested_savepoints_around_reads_of_the_writers_own_writes(storage: Storage) -> None:
    """Reads in the middle (which send PostgreSQL's queued writes) leave savepoints working:
    some rolled back before anything was sent, some after."""
    with storage.writer() as w:
        w.put_document("a", 1, "{}")
        w.savepoint()  # outer
        w.put_document("b", 1, "{}")
        assert w.get_document("b") == "{}"  # read your own write
        w.savepoint()  # inner, after the read
        w.put_document("c", 1, "{}")
        w.put_index_entry(3, b"c", "c")
        w.rollback_to_savepoint()  # inner: c is gone
        assert w.get_document("c") is None
        assert w.scan_index(3, b"", MAX, reverse=False, limit=10) == []
        w.savepoint()
        w.put_document("d", 1, "{}")
        w.release_savepoint()  # d stays, inside outer
        w.rollback_to_savepoint()  # outer: b and d are gone too
        assert w.get_document("b") is None
        assert w.get_document("d") is None
        w.savepoint()
        w.put_document("e", 1, "{}")
        w.savepoint()
        w.put_document("f", 1, "{}")
        w.rollback_to_savepoint()  # nothing read since: f is never written
        w.release_savepoint()
        w.set_global("g", "kept")
    with storage.reader() as r:
        assert [r.get_document(x) for x in "abcdef"] == ["{}", None, None, None, "{}", None]
        assert r.get_global("g") == "kept"


def test_reader_sees_one_snapshot(storage: Storage) -> None:
    with storage.writer() as w:
        w.put_document("a", 1, "v1")
        w.append_commit(1, "one")
    with storage.reader() as r:
        assert r.get_document("a") == "v1"
        with storage.writer() as w:
            w.put_document("a", 1, "v2")
            w.put_document("b", 1, "new")
            w.append_commit(2, "two")
        assert r.get_document("a") == "v1"
        assert r.get_document("b") is None
        assert r.latest_ts() == 1
    with storage.reader() as r:
        assert r.get_document("a") == "v2"
        assert r.latest_ts() == 2


def test_data_survives_reopening(opener: Opener) -> None:
    storage = opener()
    with storage.writer() as w:
        w.put_document("a", 1, "{}")
        w.put_index_entry(1, b"a", "a")
        w.set_global("g", "1")
        w.append_commit(5, "x")
    close(storage)
    storage = opener()
    with storage.reader() as r:
        assert r.get_document("a") == "{}"
        assert len(r.scan_index(1, b"", MAX, reverse=False, limit=10)) == 1
        assert r.get_global("g") == "1"
        assert r.latest_ts() == 5
    with storage.writer() as w:
        assert w.latest_ts() == 5


def test_second_sqlite_storage_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    first = SqliteStorage(path)
    try:
        with pytest.raises(StorageLockedError) as info:
            SqliteStorage(path)
        assert str(path) in str(info.value)
        assert info.value.code == "StorageLocked"
    finally:
        first.close()
    SqliteStorage(path).close()  # free again once the first is closed


def test_open_storage_refuses_unknown_urls(tmp_path: Path) -> None:
    with pytest.raises(LookupError):
        open_storage("mysql://localhost/db")
    storage = open_storage(f"sqlite://{tmp_path / 'url.sqlite3'}")
    try:
        assert isinstance(storage, SqliteStorage)
    finally:
        storage.close()


def test_nodes_starting_together_on_a_new_postgres_schema_all_open() -> None:
    """Several nodes creating the same schema and tables at once (a cluster's first start)."""
    import threading

    with fresh_database_url("race") as url:
        errors: list[BaseException] = []
        opened: list[Storage] = []

        def start() -> None:
            try:
                opened.append(open_storage(url, "normal"))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for storage in opened:
            storage.close()
        assert errors == [] and len(opened) == 6
