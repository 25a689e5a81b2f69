"""A PostgreSQL write transaction sends the writes it needs no answer to together: one pipeline
for a whole batch of inserts, and one before each statement that needs an answer."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from livebase.storage.postgres import PostgresStorage
from tests.support.postgres import fresh_database_url

MAX = b"\xff\xff"


@pytest.fixture
def storage() -> Iterator[PostgresStorage]:
    with fresh_database_url("deferred") as url:
        opened = PostgresStorage(url, "normal")
        try:
            yield opened
        finally:
            opened.close()


def test_a_batch_of_writes_is_sent_in_one_pipeline(storage: PostgresStorage) -> None:
    with storage.writer() as w:
        for i in range(50):
            w.savepoint()
            w.put_document(f"d{i}", 1, f'{{"i": {i}}}')
            w.put_index_entries([(1, f"k{i:03d}".encode(), f"d{i}"), (2, b"x%d" % i, f"d{i}")])
            w.release_savepoint()
        w.append_commit(w.latest_ts() + 1, "entry")
        deferred = w._deferred  # type: ignore[attr-defined]
        assert deferred.sent == 0  # nothing has gone out yet: 200 statements waiting
    assert deferred.sent == 1  # all of them, and the clock, in one pipeline before COMMIT
    with storage.reader() as r:
        assert len(r.scan_index(1, b"", MAX, reverse=False, limit=100)) == 50
        assert r.get_document("d49") == '{"i": 49}'


def test_a_read_sends_what_was_queued_first(storage: PostgresStorage) -> None:
    with storage.writer() as w:
        w.put_document("a", 1, "{}")
        deferred = w._deferred  # type: ignore[attr-defined]
        assert w.get_document("a") == "{}"
        assert deferred.sent == 1
        assert w.get_document("a") == "{}"
        assert deferred.sent == 1  # nothing new queued: nothing sent


def test_a_failing_queued_write_fails_the_transaction_and_nothing_is_kept(
    storage: PostgresStorage,
) -> None:
    with pytest.raises(psycopg.errors.UniqueViolation), storage.writer() as w:
        w.put_document("a", 1, "{}")
        w.put_index_entry(1, b"same", "a")
        w.put_index_entry(1, b"same", "a")  # the same key twice: refused when sent
    with storage.reader() as r:
        assert r.get_document("a") is None
    with storage.writer() as w:  # the connection is usable again
        w.put_document("b", 1, "{}")
    with storage.reader() as r:
        assert r.get_document("b") == "{}"
