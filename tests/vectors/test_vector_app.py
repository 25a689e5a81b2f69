"""Vector search through a deployment (the test kit): ``ctx.vector_search`` in actions, in a
thread and in a worker process; ``with_vector_index`` in a subscribed query re-runs on a write
that could change it (a document with one of its filter values, before or after the write) and
not on a write to another table or of another filter value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from livebase.config import Settings
from livebase.testing import AppHarness
from tests.support.apps import write_app

FILES = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({
            "notes": define_table(
                {"kind": v.string(), "title": v.string(), "embedding": v.array(v.float64())}
            )
            .index("by_kind", ["kind"])
            .vector_index(
                "by_embedding", vector_field="embedding", dimensions=3, filter_fields=["kind"]
            ),
            "other": define_table({"x": v.float64()}),
        })
    """,
    "notes.py": """
        from livebase import action, mutation, query


        @mutation
        def add(ctx, kind: str, title: str, embedding: list) -> str:
            return ctx.db.insert("notes", {"kind": kind, "title": title, "embedding": embedding})


        @mutation
        def move(ctx, id: str, kind: str) -> None:
            ctx.db.patch(id, {"kind": kind})


        @mutation
        def other(ctx) -> str:
            return ctx.db.insert("other", {"x": 1.0})


        @query
        def nearest(ctx, kind: str, vector: list) -> list:
            found = ctx.db.query("notes").with_vector_index(
                "by_embedding", vector=vector, limit=2, filter=lambda q: q.eq("kind", kind)
            )
            return [n["title"] for n in found]


        @query
        def nearest_any(ctx, vector: list) -> list:
            found = ctx.db.query("notes").with_vector_index("by_embedding", vector=vector, limit=2)
            return [n["title"] for n in found]


        @action
        def similar(ctx, vector: list, kinds: list) -> list:
            return ctx.vector_search(
                "notes", "by_embedding", vector=vector, limit=3,
                filter=lambda q: q.or_(*[q.eq("kind", k) for k in kinds]),
            )


        @action
        async def similar_async(ctx, vector: list) -> list:
            return await ctx.vector_search("notes", "by_embedding", vector=vector)


        @action
        def bad(ctx, vector: list, field: str) -> list:
            return ctx.vector_search(
                "notes", "by_embedding", vector=vector, filter=lambda q: q.eq(field, "a")
            )
    """,
}


@pytest.fixture(params=["thread", "process"])
def app(
    request: pytest.FixtureRequest, make_livebase_app: Callable[..., AppHarness], tmp_path: Path
) -> AppHarness:
    settings = Settings(action_isolation=str(request.param))
    return make_livebase_app(write_app(tmp_path / "vecapp", FILES), settings=settings)


def add(app: AppHarness, kind: str, title: str, e: list[float]) -> str:
    doc_id: str = app.mutation("notes:add", {"kind": kind, "title": title, "embedding": e})
    return doc_id


def test_actions_search_with_filters(app: AppHarness) -> None:
    x = add(app, "a", "x", [1.0, 0.0, 0.0])
    y = add(app, "b", "y", [0.9, 0.1, 0.0])
    z = add(app, "c", "z", [0.0, 1.0, 0.0])
    hits: list[dict[str, Any]] = app.action(
        "notes:similar", {"vector": [1.0, 0.0, 0.0], "kinds": ["a", "c"]}
    )
    assert [h["_id"] for h in hits] == [x, z]
    assert hits[0]["_score"] == pytest.approx(1.0) and hits[1]["_score"] == pytest.approx(0.0)
    everything = app.action("notes:similar_async", {"vector": [1.0, 0.0, 0.0]})
    assert [h["_id"] for h in everything] == [x, y, z]
    with pytest.raises(Exception, match="'title' is not a filter field"):
        app.action("notes:bad", {"vector": [1.0, 0.0, 0.0], "field": "title"})
    with pytest.raises(Exception, match="has 2 dimensions; the index has 3"):
        app.action("notes:bad", {"vector": [1.0, 0.0], "field": "kind"})


def test_a_subscribed_vector_query_reruns_on_a_matching_write_only(app: AppHarness) -> None:
    add(app, "a", "first", [1.0, 0.0, 0.0])
    sub = app.subscribe("notes:nearest", {"kind": "a", "vector": [1.0, 0.0, 0.0]})
    assert sub.value == ["first"] and sub.reruns == 0
    # Not re-run: another table, and a document of another filter value.
    app.mutation("notes:other", {})
    other = add(app, "b", "elsewhere", [1.0, 0.0, 0.0])
    assert sub.value == ["first"] and sub.reruns == 0
    # Re-run: a document with the query's filter value.
    add(app, "a", "closer", [1.0, 0.01, 0.0])
    assert sub.reruns == 1 and sub.value == ["first", "closer"]
    # A document moving into the filter value re-runs it too.
    app.mutation("notes:move", {"id": other, "kind": "a"})
    assert sub.reruns == 2 and sorted(sub.value) == ["elsewhere", "first"]  # a tie: by _id


def test_without_a_filter_any_write_to_the_table_reruns_it(app: AppHarness) -> None:
    sub = app.subscribe("notes:nearest_any", {"vector": [0.0, 1.0, 0.0]})
    assert sub.value == []
    app.mutation("notes:other", {})
    assert sub.reruns == 0
    add(app, "q", "up", [0.0, 1.0, 0.0])
    assert sub.reruns == 1 and sub.value == ["up"]
