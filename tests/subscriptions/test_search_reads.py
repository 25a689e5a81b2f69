"""``SearchReadIndex``: which searches a write touches, for writes made here and for writes read
back from the commit log (another node's commits, which carry the documents as JSON)."""

from __future__ import annotations

from typing import Any

from livebase.engine.catalog import Catalog, SearchIndexInfo
from livebase.engine.transaction import Write
from livebase.search.entries import filter_token
from livebase.search.reads import SearchRead
from livebase.subscriptions.search_reads import SearchReadIndex

CATALOG = Catalog().with_table("messages")
INDEX = SearchIndexInfo(CATALOG.next_index_id, "body", ("channel",))
CATALOG = CATALOG.with_search_index("messages", "search_body", INDEX)


def doc(body: Any, channel: str = "a") -> dict[str, Any]:
    return {"_id": "x", "_creationTime": 1.0, "body": body, "channel": channel}


def read(terms: tuple[str, ...], prefix: str | None, channel: str | None = None) -> SearchRead:
    filters = frozenset() if channel is None else frozenset({filter_token(0, channel)})
    return SearchRead(INDEX.index_id, frozenset(terms), prefix, filters)


def touched(index: SearchReadIndex, write: Write) -> set[Any]:
    into: set[Any] = set()
    index.touched_by_write(CATALOG, write, into)
    remote: set[Any] = set()
    index.touched_by_write(CATALOG, Write.from_json(_json(write)), remote)
    assert remote == into, "a write read back from the commit log must touch the same searches"
    return into


def _json(write: Write) -> dict[str, Any]:
    import orjson

    return orjson.loads(orjson.dumps(write.to_json()))


def test_terms_prefixes_filters_and_both_sides_of_a_write() -> None:
    index = SearchReadIndex()
    index.add("deploy", [read(("deploy",), "fail", "a")])
    index.add("anything", [read((), "zz")])
    insert = Write("messages", "x", {}, {}, doc("Deploy went fine"))
    assert touched(index, insert) == {"deploy"}
    assert touched(index, Write("messages", "x", {}, {}, doc("build failure"))) == {"deploy"}
    assert touched(index, Write("messages", "x", {}, {}, doc("deploy", "b"))) == set()
    assert touched(index, Write("messages", "x", {}, {}, doc("fai deplo"))) == set()
    assert touched(index, Write("messages", "x", {}, {}, doc(42))) == set()
    edit_away = Write("messages", "x", {}, {}, doc("renamed"), previous=doc("deploy"))
    assert touched(index, edit_away) == {"deploy"}
    delete = Write("messages", "x", {}, {}, None, previous=doc("zzz top"))
    assert touched(index, delete) == {"anything"}
    assert touched(index, Write("other", "x", {}, {}, doc("deploy"))) == set()
    index.remove("deploy")
    index.remove("anything")
    assert touched(index, insert) == set() and len(index) == 0
