"""Cursor pagination: every document exactly once, gapless pages under ``endCursor``."""

from __future__ import annotations

from typing import Any

import pytest

from livebase import define_schema, define_table, v
from livebase.engine import Engine, Transaction
from livebase.errors import InvalidCursorError, InvalidQueryError

from .conftest import EngineFactory, mutate, read

SCHEMA = define_schema({"posts": define_table({"n": v.int64()}).index("by_n", ["n"])})
COUNT = 50


@pytest.fixture
def posts(make_engine: EngineFactory) -> Engine:
    engine = make_engine(SCHEMA)
    # n = 0, 10, 20, ... so that later inserts can land between existing documents.
    mutate(engine, lambda tx: [tx.insert("posts", {"n": i * 10}) for i in range(COUNT)])
    return engine


def page(engine: Engine, opts: dict[str, Any], order: str = "asc", index: str = "by_n") -> Any:
    def body(tx: Transaction) -> Any:
        return tx.query("posts").with_index(index).order(order).paginate(opts)

    return read(engine, body)


def walk(engine: Engine, num: int, order: str = "asc") -> list[dict[str, Any]]:
    pages = []
    cursor = None
    for _ in range(100):
        result = page(engine, {"numItems": num, "cursor": cursor}, order)
        pages.append(result)
        if result["isDone"]:
            return pages
        cursor = result["continueCursor"]
    raise AssertionError("pagination did not finish")


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_walking_pages_returns_every_document_once_in_order(posts: Engine, order: str) -> None:
    pages = walk(posts, 7, order)
    expected = [i * 10 for i in range(COUNT)]
    if order == "desc":
        expected.reverse()
    assert [d["n"] for p in pages for d in p["page"]] == expected
    assert [len(p["page"]) for p in pages] == [7] * 7 + [1]
    assert [p["isDone"] for p in pages] == [False] * 7 + [True]
    assert all(isinstance(p["continueCursor"], str) and p["continueCursor"] for p in pages)
    # Asking past the end gives an empty, finished page.
    last = page(posts, {"numItems": 7, "cursor": pages[-1]["continueCursor"]}, order)
    assert last["page"] == [] and last["isDone"] is True


def test_page_size_dividing_the_total_ends_cleanly(posts: Engine) -> None:
    pages = walk(posts, 10)
    assert [d["n"] for p in pages for d in p["page"]] == [i * 10 for i in range(COUNT)]
    assert pages[-1]["isDone"] is True
    assert all(len(p["page"]) in (10, 0) for p in pages)


def test_end_cursor_keeps_pages_gapless_when_documents_are_inserted(posts: Engine) -> None:
    first = page(posts, {"numItems": 7, "cursor": None})
    second = page(posts, {"numItems": 7, "cursor": first["continueCursor"]})
    assert [d["n"] for d in first["page"]] == [0, 10, 20, 30, 40, 50, 60]
    assert [d["n"] for d in second["page"]] == [70, 80, 90, 100, 110, 120, 130]

    # Inside page one's range, plus one exactly at its boundary value (60): the new 60 sorts
    # after the old one (later _creationTime), so it belongs to page two.
    mutate(posts, lambda tx: [tx.insert("posts", {"n": n}) for n in (5, 15, 45, 60, 65)])

    # The reactive re-run of page one: same start, pinned end.
    end1 = first["continueCursor"]
    again = page(posts, {"numItems": 7, "cursor": None, "endCursor": end1})
    assert [d["n"] for d in again["page"]] == [0, 5, 10, 15, 20, 30, 40, 45, 50, 60]
    assert again["isDone"] is False
    assert again["continueCursor"] == end1
    again2 = page(posts, {"numItems": 7, "cursor": end1, "endCursor": second["continueCursor"]})
    assert [d["n"] for d in again2["page"]] == [60, 65, 70, 80, 90, 100, 110, 120, 130]

    # Walking on from page one's cursor: nothing lost, nothing duplicated.
    seen = [d["n"] for d in again["page"]]
    cursor = end1
    while True:
        result = page(posts, {"numItems": 7, "cursor": cursor})
        seen += [d["n"] for d in result["page"]]
        if result["isDone"]:
            break
        cursor = result["continueCursor"]
    assert sorted(seen) == sorted([i * 10 for i in range(COUNT)] + [5, 15, 45, 60, 65])
    assert seen == sorted(seen)


def test_end_cursor_page_shrinks_when_documents_are_deleted(posts: Engine) -> None:
    first = page(posts, {"numItems": 7, "cursor": None})
    victims = [d["_id"] for d in first["page"][1:3]]
    mutate(posts, lambda tx: [tx.delete(i) for i in victims])
    again = page(posts, {"numItems": 7, "cursor": None, "endCursor": first["continueCursor"]})
    assert [d["n"] for d in again["page"]] == [0, 30, 40, 50, 60]


def test_a_cursor_from_another_query_is_refused(posts: Engine) -> None:
    cursor = page(posts, {"numItems": 7, "cursor": None})["continueCursor"]
    with pytest.raises(InvalidCursorError):
        page(posts, {"numItems": 7, "cursor": cursor}, index="by_creation_time")
    with pytest.raises(InvalidCursorError):
        page(posts, {"numItems": 7, "cursor": cursor}, order="desc")

    def other_range(tx: Transaction) -> Any:
        q = tx.query("posts").with_index("by_n", lambda r: r.gte("n", 100))
        return q.paginate({"numItems": 7, "cursor": cursor})

    with pytest.raises(InvalidCursorError):
        read(posts, other_range)
    for garbage in ("not a cursor!", "AAAA", "ü"):
        with pytest.raises(InvalidCursorError):
            page(posts, {"numItems": 7, "cursor": garbage})


def test_paginate_with_a_filter_and_an_index_range(posts: Engine) -> None:
    def body(cursor: str | None) -> Any:
        def run(tx: Transaction) -> Any:
            q = tx.query("posts").with_index("by_n", lambda r: r.gte("n", 100).lt("n", 300))
            return q.filter(lambda d: d["n"] % 20 == 0).paginate({"numItems": 3, "cursor": cursor})

        return run

    seen: list[int] = []
    cursor = None
    for _ in range(20):
        result = read(posts, body(cursor))
        assert len(result["page"]) <= 3
        seen += [d["n"] for d in result["page"]]
        if result["isDone"]:
            break
        cursor = result["continueCursor"]
    assert seen == list(range(100, 300, 20))


def test_paginate_rejects_bad_options(posts: Engine) -> None:
    with pytest.raises(InvalidQueryError):
        page(posts, {"cursor": None})
    with pytest.raises(InvalidQueryError):
        page(posts, {"numItems": "7", "cursor": None})


def test_an_empty_page_does_not_skip_to_the_end(posts: Engine) -> None:
    """numItems 0 reads nothing; its continueCursor must not jump past every document."""
    empty = page(posts, {"numItems": 0, "cursor": None})
    assert empty["page"] == []
    assert empty["isDone"] is False
    nxt = page(posts, {"numItems": 3, "cursor": empty["continueCursor"]})
    assert [d["n"] for d in nxt["page"]] == [0, 10, 20]
