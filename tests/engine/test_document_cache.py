"""Decoded documents kept by their stored text (``engine.document_cache``): a function that
changes what it read changes only its own copy, and what it returns is checked and encoded as
changed, however it changed it (a new field, a value swapped for an equal one of another type,
fields swapped, nested values changed in place); the next read is the stored document again."""

from __future__ import annotations

import copy
import pickle
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from livebase.engine.document_cache import DocumentCache
from livebase.testing import AppHarness
from livebase.values import Int64, dumps, to_wire
from livebase.values.types import StoredDocument

SCHEMA = """
from livebase import define_schema, define_table, v

schema = define_schema({
    "items": define_table({
        "n": v.any(), "flag": v.any(), "name": v.string(), "tags": v.optional(v.array(v.string())),
    }),
})
"""

ITEMS = '''
from typing import Any
from livebase import mutation, query

@mutation
def add(ctx, n: Any, flag: Any, name: str, tags: list[str] | None = None) -> str:
    doc = {"n": n, "flag": flag, "name": name}
    if tags is not None:
        doc["tags"] = tags
    return ctx.db.insert("items", doc)

@query
def all_items(ctx) -> list[dict]:
    return ctx.db.query("items").collect()

@query
def changed(ctx, how: str) -> Any:
    docs = ctx.db.query("items").collect()
    for doc in docs:
        if how == "new field":
            doc["extra"] = "x"
        elif how == "bool for number":
            doc["n"] = doc["n"] == 1  # True == 1: equal, but a boolean
        elif how == "negative zero":
            doc["n"] = -0.0  # -0.0 == 0: equal, but another float64
        elif how == "int64":
            doc["n"] = Int64(doc["n"])
        elif how == "swap":
            doc["n"], doc["flag"] = doc["flag"], doc["n"]
        elif how == "delete":
            del doc["flag"]
        elif how == "nested":
            doc.get("tags", []).append("changed")
        elif how == "invalid":
            doc["n"] = object()
    return docs
'''.replace("from livebase import mutation, query", "from livebase import Int64, mutation, query")


def write_app(root: Path) -> Path:
    app = root / "app"
    app.mkdir()
    (app / "schema.py").write_text(textwrap.dedent(SCHEMA))
    (app / "items.py").write_text(textwrap.dedent(ITEMS))
    return app


@pytest.fixture
def app(make_livebase_app: Callable[..., AppHarness], tmp_path: Path) -> AppHarness:
    harness = make_livebase_app(write_app(tmp_path))
    harness.mutation("items:add", {"n": 1, "flag": 0, "name": "a"})
    harness.mutation("items:add", {"n": 0, "flag": 1, "name": "b", "tags": ["t"]})
    return harness


def plain(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in d.items() if not k.startswith("_")} for d in docs]


STORED = [{"n": 1, "flag": 0, "name": "a"}, {"n": 0, "flag": 1, "name": "b", "tags": ["t"]}]


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("new field", [{**d, "extra": "x"} for d in STORED]),
        ("bool for number", [{**STORED[0], "n": True}, {**STORED[1], "n": False}]),
        ("negative zero", [{**d, "n": -0.0} for d in STORED]),
        ("int64", [{**STORED[0], "n": Int64(1)}, {**STORED[1], "n": Int64(0)}]),
        ("swap", [{**d, "n": d["flag"], "flag": d["n"]} for d in STORED]),
        ("delete", [{k: v for k, v in d.items() if k != "flag"} for d in STORED]),
        ("nested", [STORED[0], {**STORED[1], "tags": ["t", "changed"]}]),
    ],
)
def test_a_changed_copy_is_sent_as_changed_and_the_next_read_is_as_stored(
    app: AppHarness, how: str, expected: list[dict[str, Any]]
) -> None:
    for _ in range(2):  # the second time every document comes from the cache
        result = app.query("items:changed", {"how": how})
        assert dumps(to_wire(plain(result))) == dumps(to_wire(expected))
        assert plain(app.query("items:all_items")) == STORED
    sub = app.subscribe("items:changed", {"how": how})  # encoded for the sync protocol
    assert dumps(to_wire(plain(sub.value))) == dumps(to_wire(expected))


def test_an_invalid_value_put_into_a_copy_is_refused(app: AppHarness) -> None:
    app.query("items:all_items")
    with pytest.raises(Exception, match="object"):
        app.query("items:changed", {"how": "invalid"})
    assert plain(app.query("items:all_items")) == STORED


def test_copies_and_pickles_are_plain_dicts() -> None:
    cache = DocumentCache()
    text = dumps(to_wire({"_id": "x", "n": 1, "s": "a"}))
    once = cache.decode(text)
    assert type(once) is dict  # a first read is only noted
    first, second = cache.decode(text), cache.decode(text)
    assert type(first) is StoredDocument and first == second == once and first is not second
    assert cache.hits == 1 and cache.misses == 2
    first["n"] = 2
    assert cache.decode(text) == {"_id": "x", "n": 1, "s": "a"}
    for other in (copy.copy(second), copy.deepcopy(second), pickle.loads(pickle.dumps(second))):
        assert type(other) is dict and other == second
    nested = dumps(to_wire({"_id": "y", "tags": ["a"]}))
    for _ in range(3):  # nested values: decoded each time, never shared
        assert type(cache.decode(nested)) is dict


def test_the_cache_is_bounded_by_the_text_it_holds() -> None:
    texts = [dumps(to_wire({"_id": f"d{i}", "body": "x" * 100})) for i in range(100)]
    cache = DocumentCache(max_chars=len(texts[0]) * 10)
    for text in texts * 2:
        cache.decode(text)
    assert cache.misses == 200 and cache.hits == 0  # noted, then forgotten before read again
    for text in texts[-5:] * 2:
        cache.decode(text)
    assert cache.hits == 5 and cache.misses == 205  # the last ten noted stay
