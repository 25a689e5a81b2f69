"""The storage interface's bulk part (``dump``, ``count``, ``is_empty``, ``load``, ``clear``) on
every backend: what ``livebase migrate`` is built from."""

from __future__ import annotations

from livebase.engine import Engine, Transaction
from livebase.migrate import pages
from livebase.storage import open_storage
from livebase.storage.base import BULK_TABLES, Row

from .conftest import EngineFactory, location, mutate


def _fill(engine: Engine, n: int) -> None:
    def write(tx: Transaction) -> None:
        for i in range(n):
            tx.insert("things", {"i": i, "s": "ü" * (i % 3), "b": bytes([i % 256, 0])})

    mutate(engine, write)
    mutate(engine, lambda tx: tx.insert("other", {"x": 1.5}))


def _all(engine: Engine) -> dict[str, list[Row]]:
    with engine.storage.reader() as r:
        return {
            table: [row for rows in pages(r, table, 7) for row in rows] for table in BULK_TABLES
        }


def test_dump_pages_through_every_table_in_key_order(make_engine: EngineFactory) -> None:
    engine = make_engine()
    _fill(engine, 40)
    rows = _all(engine)
    with engine.storage.reader() as r:
        for table, got in rows.items():
            assert len(got) == r.count(table)
            assert got == sorted(got)
            assert got == r.dump(table, None, 10_000)  # paging loses and repeats nothing
        assert not r.is_empty()
    assert len(rows["documents"]) == 41
    assert len(rows["indexes"]) == 2 * 41  # by_id and by_creation_time
    assert {type(x) for row in rows["indexes"] for x in row} == {int, bytes, str}
    assert [row[0] for row in rows["commits"]] == sorted(row[0] for row in rows["commits"])


def test_load_into_an_empty_database_copies_exactly(make_engine: EngineFactory) -> None:
    engine = make_engine()
    _fill(engine, 25)
    source = _all(engine)
    with engine.storage.reader() as r:
        latest = r.latest_ts()
    copy = open_storage(make_engine.path("copy"), "normal")
    try:
        with copy.reader() as r:
            assert r.is_empty() and r.latest_ts() == 0
        with copy.writer() as w:
            for table in BULK_TABLES:
                w.load(table, source[table])
            assert w.latest_ts() == latest
        with copy.reader() as r:
            assert r.latest_ts() == latest
        copy.close()
        reopened = make_engine(path=make_engine.path("copy"))
        assert _all(reopened) == source
        assert reopened.latest_ts == latest
        assert reopened.catalog == engine.catalog
        with reopened.storage.writer() as w:
            w.clear()
            assert w.is_empty() and w.latest_ts() == 0
        with reopened.storage.reader() as r:
            assert r.is_empty() and r.latest_ts() == 0
    finally:
        copy.close()


def test_location_helper_names_the_copy(make_engine: EngineFactory) -> None:
    engine = make_engine(path=make_engine.path("named"))
    assert str(location(engine)) == str(make_engine.path("named"))
