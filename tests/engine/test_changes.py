"""The change stream's read side and retention, on real SQLite files: every write of every commit,
in commit order, resumable exactly after any change's cursor; table filters; pages; and pruning
by age with an exact watermark (expired cursors fail loudly, the newest commit always stays)."""

from __future__ import annotations

import asyncio

import pytest

from livebase import Int64
from livebase.config import Settings
from livebase.engine import Engine
from livebase.engine.changes import (
    RETAINED_KEY,
    Change,
    ChangePage,
    Cursor,
    parse_cursor,
    read_changes,
)
from livebase.engine.feed import ChangeFeed
from livebase.engine.history import MAX_COMMITS_BACK
from livebase.engine.retention import prune_expired
from livebase.errors import CursorExpiredError, InvalidCursorError, InvalidValueError
from livebase.runtime import FakeRuntime
from livebase.values.wire import dumps
from tests.support.calls import assert_stops_when_cancelled_as_woken

from .conftest import EngineFactory, mutate, run


def read(
    engine: Engine,
    after: Cursor | str | None = None,
    tables: set[str] | None = None,
    limit: int = 10_000,
) -> ChangePage:
    cursor = parse_cursor(after) if isinstance(after, str) else after
    with engine.storage.reader() as r:
        return read_changes(r, cursor, tables, limit)


def summary(changes: list[Change]) -> list[tuple[str, str, object]]:
    return [(c.table, c.operation, c.document and c.document.get("n")) for c in changes]


def test_inserts_updates_and_deletes_in_commit_order_with_documents(engine: Engine) -> None:
    a = mutate(engine, lambda tx: tx.insert("items", {"n": Int64(1), "tag": b"\x00"})).value
    mutate(engine, lambda tx: tx.patch(a, {"n": 2}))
    b = mutate(engine, lambda tx: tx.insert("other", {"n": 1.5})).value
    mutate(engine, lambda tx: tx.delete(a))

    changes = read(engine).changes
    assert [(c.table, c.id, c.operation) for c in changes] == [
        ("items", a, "insert"),
        ("items", a, "update"),
        ("other", b, "insert"),
        ("items", a, "delete"),
    ]
    inserted = changes[0].document
    assert isinstance(inserted, dict)
    assert inserted["n"] == 1 and type(inserted["n"]) is Int64  # int64 survives the trip
    assert inserted["tag"] == b"\x00" and inserted["_id"] == a
    assert changes[1].document == {**inserted, "n": 2}
    assert changes[3].document is None and changes[3].wire_document is None
    assert changes[0].to_json()["document"]["n"] == {"$integer": "AQAAAAAAAAA="}
    stamps = [c.ts for c in changes]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert [str(c.cursor) for c in changes] == [str(ts) for ts in stamps]


def test_the_commit_log_embeds_the_stored_document_text(engine: Engine) -> None:
    doc_id = mutate(engine, lambda tx: tx.insert("items", {"x": [1.0, {"y": "z"}]})).value
    with engine.storage.reader() as r:
        stored = r.get_document(doc_id)
        (_, entry), *_ = r.commits_after(0, 10)
    assert stored is not None and f'"doc":{stored}' in entry


def test_every_cursor_resumes_exactly_after_its_change_inside_multi_write_commits(
    engine: Engine,
) -> None:
    def three(tx, start: int) -> None:
        for n in range(start, start + 3):
            tx.insert("items", {"n": n})

    for start in (0, 3, 6):
        mutate(engine, lambda tx, s=start: three(tx, s))
    changes = read(engine).changes
    assert [c.document["n"] for c in changes] == list(range(9))  # type: ignore[index]
    ts = changes[0].ts
    assert [str(c.cursor) for c in changes[:3]] == [f"{ts}-0", f"{ts}-1", f"{ts}"]
    for k, change in enumerate(changes):
        rest = read(engine, str(change.cursor)).changes
        assert rest == changes[k + 1 :]
    assert read(engine, None).changes == changes


def test_table_filter_and_system_tables(engine: Engine) -> None:
    mutate(engine, lambda tx: [tx.insert("a", {"n": 1}), tx.insert("b", {"n": 2})])
    mutate(engine, lambda tx: tx.insert("b", {"n": 3}))
    # A platform table (names starting with "_"), as the scheduler keeps them.
    with engine.storage.writer() as w:
        entry = {"writes": [{"table": "_jobs", "id": "x", "old": {}, "new": {"1": "00"}}]}
        w.append_commit(w.latest_ts() + 1, dumps(entry))
    assert summary(read(engine, tables={"b"}).changes) == [("b", "insert", 2), ("b", "insert", 3)]
    assert summary(read(engine, tables={"a", "nope"}).changes) == [("a", "insert", 1)]
    assert [c.table for c in read(engine).changes] == ["a", "b", "b"]
    assert [c.table for c in read(engine, tables={"_jobs"}).changes] == ["_jobs"]


def test_pages_end_at_a_position_that_resumes_exactly(engine: Engine) -> None:
    mutate(engine, lambda tx: [tx.insert("a", {"n": n}) for n in range(5)])
    for n in range(5, 10):
        mutate(engine, lambda tx, n=n: tx.insert("a" if n % 2 else "b", {"n": n}))
    seen: list[int] = []
    position: Cursor | None = None
    pages = 0
    while True:
        page = read(engine, position, limit=3)
        seen += [c.document["n"] for c in page.changes]  # type: ignore[index]
        position = page.position
        pages += 1
        if not page.more:
            break
    assert seen == list(range(10)) and pages == 4
    # Filtered: the position moves past the commits of other tables.
    page = read(engine, None, tables={"b"}, limit=100)
    assert summary(page.changes) == [("b", "insert", 6), ("b", "insert", 8)]
    assert page.position == Cursor(engine.latest_ts) and not page.more
    assert read(engine, page.position, tables={"b"}).changes == []


def test_commits_of_other_tables_do_not_use_up_a_page(engine: Engine) -> None:
    # Interleaved writes of a filtered-out table (as a cron writes its own tables between the
    # app's writes): a page of ``limit`` still holds ``limit`` matching changes, and a client
    # that takes one full page gets them all.
    for n in range(30):
        mutate(engine, lambda tx, n=n: tx.insert("items", {"n": n}))
        mutate(engine, lambda tx, n=n: [tx.insert("noise", {"n": n}) for _ in range(3)])
    page = read(engine, None, tables={"items"}, limit=30)
    assert [c.document["n"] for c in page.changes] == list(range(30))  # type: ignore[index]
    page = read(engine, None, tables={"items"}, limit=10)
    assert len(page.changes) == 10 and page.more
    rest = read(engine, page.position, tables={"items"}, limit=100)
    assert [c.document["n"] for c in rest.changes] == list(range(10, 30))  # type: ignore[index]
    assert not rest.more


def test_a_filter_that_matches_little_ends_a_page_at_the_scan_budget(engine: Engine) -> None:
    for n in range(50):
        mutate(engine, lambda tx, n=n: tx.insert("noise" if n != 45 else "items", {"n": n}))
    with engine.storage.reader() as r:
        page = read_changes(r, None, {"items"}, 10, scan_budget=20)
    assert page.changes == [] and page.more  # 20 commits scanned, nothing matched yet
    seen: list[int] = []
    position = page.position
    while True:
        with engine.storage.reader() as r:
            page = read_changes(r, position, {"items"}, 10, scan_budget=20)
        seen += [c.document["n"] for c in page.changes]  # type: ignore[index]
        position = page.position
        if not page.more:
            break
    assert seen == [45] and position == Cursor(engine.latest_ts)


@pytest.mark.parametrize("text", ["", "abc", "12-", "-1", "1--2", "1-x", "\uff11\uff12", "9" * 21])
def test_garbage_cursors_are_invalid(text: str) -> None:
    with pytest.raises(InvalidCursorError):
        parse_cursor(text)


def test_cursors_that_match_no_commit_are_invalid(engine: Engine) -> None:
    mutate(engine, lambda tx: [tx.insert("a", {"n": 1}), tx.insert("a", {"n": 2})])
    ts = engine.latest_ts
    with pytest.raises(InvalidCursorError, match="ahead of the newest commit"):
        read(engine, str(ts + 1))
    with pytest.raises(InvalidCursorError, match="no commit"):
        read(engine, f"{ts - 1}-0")
    with pytest.raises(InvalidCursorError, match="only 2 writes"):
        read(engine, f"{ts}-5")
    assert read(engine, f"{ts}-1").changes == []  # after the last write: the commit is done


def retention_engine(make_engine: EngineFactory, seconds: float = 3600.0) -> Engine:
    return make_engine(runtime=FakeRuntime(), settings=Settings(change_retention_seconds=seconds))


def test_pruning_records_a_watermark_and_expired_cursors_fail_loudly(
    make_engine: EngineFactory,
) -> None:
    engine = retention_engine(make_engine)
    clock = engine.runtime
    assert isinstance(clock, FakeRuntime)
    mutate(engine, lambda tx: [tx.insert("a", {"n": 0}), tx.insert("a", {"n": 1})])
    old = read(engine).changes
    clock.advance(7200)
    for n in range(2, 5):
        mutate(engine, lambda tx, n=n: tx.insert("a", {"n": n}))

    pruned = engine.prune_changes(clock.time_ns() - 3600 * 10**9, keep_newest=1)
    assert (pruned.count, pruned.newest_ts) == (1, old[0].ts)
    with engine.storage.reader() as r:
        assert r.get_global(RETAINED_KEY) is not None
    with pytest.raises(CursorExpiredError, match="kept for 1 hour") as info:
        read(engine, str(old[0].cursor))  # mid-commit: the rest of that commit is gone
    assert info.value.http_status == 410 and info.value.code == "CursorExpired"
    with pytest.raises(CursorExpiredError):
        read(engine, str(old[0].ts - 1))
    # After the whole pruned commit: nothing after it is missing.
    rest = read(engine, str(old[1].cursor)).changes
    assert [c.document["n"] for c in rest] == [2, 3, 4]  # type: ignore[index]
    assert read(engine, None).changes == rest  # no cursor: the oldest retained change
    with pytest.raises(InvalidValueError, match="older than the retained commit log"):
        engine.read_at(old[0].ts - 1, lambda tx: None)


def test_pruning_never_deletes_the_newest_commit_and_timestamps_keep_increasing(
    make_engine: EngineFactory,
) -> None:
    engine = retention_engine(make_engine)
    clock = engine.runtime
    assert isinstance(clock, FakeRuntime)
    for n in range(3):
        mutate(engine, lambda tx, n=n: tx.insert("a", {"n": n}))
    last = engine.latest_ts
    clock.advance(-86400)  # the clock went back: new timestamps must still increase
    pruned = engine.prune_changes(last + 10**12, keep_newest=0)
    assert pruned.count == 2
    assert [c.ts for c in read(engine).changes] == [last]
    engine = make_engine.reopen(engine, runtime=clock)
    assert mutate(engine, lambda tx: tx.insert("a", {"n": 3})).ts == last + 1
    assert [c.document["n"] for c in read(engine).changes] == [2, 3]  # type: ignore[index]


def test_the_retention_pass_keeps_recent_commits_and_the_newest_history(
    make_engine: EngineFactory,
) -> None:
    engine = retention_engine(make_engine, seconds=60.0)
    clock = engine.runtime
    assert isinstance(clock, FakeRuntime)
    for n in range(5):
        mutate(engine, lambda tx, n=n: tx.insert("a", {"n": n}))
    # Old, but among the newest MAX_COMMITS_BACK + 1: historical reads still need them.
    clock.advance(3600)
    assert run(prune_expired(engine)) == 0
    assert len(read(engine).changes) == 5
    assert MAX_COMMITS_BACK + 1 > 5


def test_retention_pass_prunes_only_what_is_older_than_the_window(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = retention_engine(make_engine, seconds=60.0)
    clock = engine.runtime
    assert isinstance(clock, FakeRuntime)
    real = engine.prune_changes
    monkeypatch.setattr(engine, "prune_changes", lambda before, **kw: real(before, keep_newest=1))
    for n in range(4):
        mutate(engine, lambda tx, n=n: tx.insert("a", {"n": n}))
        clock.advance(30)
    # Commits at t=0, 30, 60, 90; now t=120: the window keeps t >= 60.
    assert run(prune_expired(engine)) == 2
    assert [c.document["n"] for c in read(engine).changes] == [2, 3]  # type: ignore[index]


def test_feed_wakes_a_waiting_follower_on_commit(engine: Engine) -> None:
    async def scenario() -> list[int]:
        feed = ChangeFeed(engine)
        first = feed.read(Cursor(engine.latest_ts), None)
        got: list[int] = []

        async def follow() -> None:
            async for page in feed.follow(first, None, idle=5.0):
                assert page is not None
                got.extend(c.document["n"] for c in page.changes)  # type: ignore[index]
                if len(got) == 3:
                    return

        task = asyncio.ensure_future(follow())
        for n in range(3):
            await asyncio.sleep(0.01)
            await engine.mutate(lambda tx, n=n: tx.insert("a", {"n": n}))
        await asyncio.wait_for(task, 30)
        return got

    assert run(scenario()) == [0, 1, 2]


def test_following_other_nodes_stops_when_cancelled_just_as_it_is_woken(engine: Engine) -> None:
    async def scenario() -> None:
        wake = asyncio.Event()
        task = asyncio.ensure_future(engine.follow(wake, poll_seconds=30.0))
        await assert_stops_when_cancelled_as_woken(task, lambda: wake)

    run(scenario())
