"""A small app with a search index, for the reactive search tests (kit and e2e)."""

from __future__ import annotations

from pathlib import Path

from tests.support.apps import write_app

FILES = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({
            "messages": define_table(
                {"channel": v.string(), "body": v.string()}
            ).search_index("search_body", search_field="body", filter_fields=["channel"]),
            "other": define_table({"body": v.string()}),
        })
    """,
    "messages.py": """
        from livebase import mutation, query


        @mutation
        def send(ctx, channel: str, body: str) -> str:
            return ctx.db.insert("messages", {"channel": channel, "body": body})


        @mutation
        def edit(ctx, id: str, body: str) -> None:
            ctx.db.patch(id, {"body": body})


        @mutation
        def note(ctx, body: str) -> str:
            return ctx.db.insert("other", {"body": body})


        @query
        def search(ctx, channel: str, text: str) -> list:
            found = ctx.db.query("messages").with_search_index(
                "search_body", lambda q: q.search("body", text).eq("channel", channel)
            ).take(10)
            return [m["body"] for m in found]
    """,
}


def write_search_app(root: Path) -> Path:
    return write_app(root / "searchapp", FILES)
