"""A PostgreSQL write transaction sends the writes it needs no answer to together: one message
for a whole batch of inserts, and one with each statement that needs an answer."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from livebase.errors import ConflictError
from livebase.storage import postgres_literals
from livebase.storage.base import StorageReader
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


def test_a_batch_of_writes_costs_two_round_trips(storage: PostgresStorage) -> None:
    with storage.writer() as w:
        deferred = w._deferred  # type: ignore[attr-defined]
        tail = w.tail(0, 10, ["catalog"])  # BEGIN, the clock and this read: one round trip
        assert (tail.commits, tail.values, deferred.round_trips) == ([], {}, 1)
        for i in range(50):
            w.savepoint()
            w.put_document(f"d{i}", 1, f'{{"i": {i}}}')
            w.put_index_entries([(1, f"k{i:03d}".encode(), f"d{i}"), (2, b"x%d" % i, f"d{i}")])
            w.release_savepoint()
        w.append_commit(w.latest_ts() + 1, "entry")
        assert deferred.round_trips == 1  # nothing more has gone out: 150 statements waiting
    assert deferred.round_trips == 2  # all of them, the clock and COMMIT in one message
    with storage.reader() as r:
        assert len(r.scan_index(1, b"", MAX, reverse=False, limit=100)) == 50
        assert r.get_document("d49") == '{"i": 49}'
        assert r.latest_ts() == tail_ts(r)


def tail_ts(r: StorageReader) -> int:
    return r.commits_after(0, 10)[-1][0]


def test_a_transaction_that_writes_nothing_sends_nothing(storage: PostgresStorage) -> None:
    with storage.writer() as w:
        deferred = w._deferred  # type: ignore[attr-defined]
        w.savepoint()
        w.release_savepoint()
    assert deferred.round_trips == 0


def test_the_clock_is_taken_first_even_when_nothing_is_read(storage: PostgresStorage) -> None:
    """Writes without a read still go out after BEGIN and the clock, in the same pipeline; the
    commit timestamp is checked against the clock read there."""
    with storage.writer() as w:
        w.put_document("a", 1, "{}")
        w.append_commit(5, "first")
    with storage.writer() as w:
        w.put_document("b", 1, "{}")
        with pytest.raises(ConflictError, match="not after 5"):
            w.append_commit(5, "again")
        w.append_commit(6, "second")
        assert w._deferred.round_trips == 1  # type: ignore[attr-defined]
    with storage.reader() as r:
        assert (r.latest_ts(), [ts for ts, _ in r.commits_after(0, 9)]) == (6, [5, 6])


def test_rolling_back_to_a_sent_savepoint_is_queued(storage: PostgresStorage) -> None:
    with storage.writer() as w:
        deferred = w._deferred  # type: ignore[attr-defined]
        w.savepoint()
        w.put_document("gone", 1, "{}")
        assert w.get_document("gone") == "{}"  # sends the savepoint and the write
        sent = deferred.round_trips
        w.rollback_to_savepoint()
        assert deferred.round_trips == sent  # queued, not sent on its own
        assert w.get_document("gone") is None  # the rollback went out with this read
        w.put_document("kept", 1, "{}")
    with storage.reader() as r:
        assert (r.get_document("gone"), r.get_document("kept")) == (None, "{}")


def test_a_read_sends_what_was_queued_first(storage: PostgresStorage) -> None:
    with storage.writer() as w:
        w.put_document("a", 1, "{}")
        deferred = w._deferred  # type: ignore[attr-defined]
        assert w.get_document("a") == "{}"
        assert deferred.round_trips == 1  # the transaction's start, the write and the read
        assert w.get_document("a") == "{}"
        assert deferred.round_trips == 2  # nothing new queued: the read alone


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


TRICKY = [
    "it's", "back\\slash", "\\x41", "%s and %(name)s and 100%", "'; DROP TABLE lb_documents; --",
    "línea\nnueva\t🙂", "E'\\''", "",
]  # fmt: skip


def test_queued_values_arrive_exactly_as_written(storage: PostgresStorage) -> None:
    """The queue is sent as plain SQL with literals written by ``postgres_literals``: text with
    quotes, backslashes, percent signs and any bytes must come back unchanged."""
    every_byte = bytes(range(256))
    with storage.writer() as w:
        for i, text in enumerate(TRICKY):
            w.put_document(f"d{i}", i, text)
            w.put_index_entries([(7, every_byte + bytes([i]), f"d{i}")])
            w.set_global(text or "empty", text)
        w.append_commit(2**62, "\\'%s")
    with storage.reader() as r:
        assert [r.get_document(f"d{i}") for i in range(len(TRICKY))] == TRICKY
        rows = r.scan_index(7, b"", MAX, reverse=False, limit=100)
        assert [row.key for row in rows] == [every_byte + bytes([i]) for i in range(len(TRICKY))]
        assert [r.get_global(t or "empty") for t in TRICKY] == TRICKY
        assert r.commits_after(0, 5) == [(2**62, "\\'%s")]


def test_literals_cover_only_what_they_can_write_exactly() -> None:
    assert postgres_literals.bind("SELECT %s, %s, %s", ["a'b", -5, b"\x00\xff"]) == (
        "SELECT 'a''b', -5, '\\x00ff'::bytea"
    )
    assert postgres_literals.bind("SELECT %s::text[]", [["x", None]]) == (
        "SELECT ARRAY['x',NULL]::text[]"
    )
    assert postgres_literals.bind("SELECT %s::bigint[]", [[]]) == "SELECT ARRAY[]::bigint[]"
    for sql, params in [("SELECT %s", [1.5]), ("SELECT %s", [{"a": 1}]), ("SELECT %s", [True]),
                        ("SELECT %(a)s", {"a": 1}), ("SELECT %s, %s", [1])]:  # fmt: skip
        assert postgres_literals.bind(sql, params) is None  # bound by psycopg instead
    with pytest.raises(ValueError, match="NUL"):
        postgres_literals.bind("SELECT %s", ["a\x00b"])


def test_rows_of_a_multi_row_insert_are_written_in_one_pass_or_left_to_psycopg() -> None:
    """A run of queued rows becomes ``(..),(..)`` written out directly (no ``%s`` template to
    bind); a row holding a value ``literal`` does not write leaves the whole statement to
    psycopg's binding, as a single statement would be."""
    assert postgres_literals.rows([("a'b%s", 7, b"\x00\xff"), ("c", -1, None)]) == (
        "('a''b%s',7,'\\x00ff'::bytea),('c',-1,NULL)"
    )
    assert postgres_literals.rows([("a", 1), ("b", 1.5)]) is None
    assert postgres_literals.rows([(True,)]) is None
