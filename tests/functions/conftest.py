"""Fixtures for the function layer: apps written into ``tmp_path``, real SQLite engines, runners.

``make_app({"messages.py": "..."})`` writes an app folder (sources are dedented) and returns its
path; ``harness(files)`` loads it onto a fresh engine on a real SQLite file and returns a
``Harness`` whose ``query`` / ``mutation`` / ``action`` helpers call through ``Runner``.
Everything opened is closed and every loaded app unloaded at teardown.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from livebase.config import Limits, Settings
from livebase.engine.database import Engine
from livebase.functions.loader import App, load_app, unload
from livebase.functions.runner import CallResult, Runner
from livebase.storage import open_storage
from tests.support.apps import write_app

AppFiles = Mapping[str, str]


CHAT_FILES: dict[str, str] = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema(
            {
                "messages": define_table(
                    {"channel": v.string(), "body": v.string(), "author": v.optional(v.string())}
                ).index("by_channel", ["channel"]),
            }
        )
    """,
    "messages.py": """
        from typing import Any

        from livebase import AppError, action, mutation, query, v


        @query
        def list(ctx, channel: str, limit: int | None = None) -> list[dict]:
            q = ctx.db.query("messages").with_index(
                "by_channel", lambda q: q.eq("channel", channel)
            )
            return q.take(limit) if limit is not None else q.collect()


        @query
        def count(ctx, channel: str) -> int:
            q = ctx.db.query("messages").with_index(
                "by_channel", lambda q: q.eq("channel", channel)
            )
            return len(q.collect())


        @mutation(
            args={"channel": v.string(), "body": v.string(), "author": v.optional(v.string())}
        )
        def send(ctx, channel, body, author=None):
            if not body.strip():
                raise AppError({"code": "EmptyMessage", "channel": channel})
            doc: dict[str, Any] = {"channel": channel, "body": body}
            if author is not None:
                doc["author"] = author
            print(f"sending to {channel}")
            return ctx.db.insert("messages", doc)


        @query
        def echo(ctx, value: Any) -> Any:
            return value


        @query
        def boom(ctx) -> None:
            raise ValueError("secret bug details 0xdeadbeef")


        @action
        async def shout(ctx, channel: str, body: str) -> dict:
            args = {"channel": channel, "body": body.upper()}
            message_id = await ctx.run_mutation("messages:send", args)
            n = await ctx.run_query("messages:count", {"channel": channel})
            return {"id": message_id, "count": n}
    """,
    "admin/users.py": """
        from livebase import internal_mutation, internal_query


        @internal_query
        def total(ctx) -> int:
            return len(ctx.db.query("messages").collect())


        @internal_mutation
        def wipe(ctx, channel: str) -> int:
            n = 0
            for doc in ctx.db.query("messages").collect():
                if doc["channel"] == channel:
                    ctx.db.delete(doc["_id"])
                    n += 1
            return n
    """,
}


def run(coro: Any) -> Any:
    """Run a coroutine on a fresh event loop (the engine binds to whichever loop is running)."""
    return asyncio.run(coro)


@dataclass
class Harness:
    app: App
    engine: Engine
    runner: Runner
    root: Path

    def query(self, path: str, args: Any = None, *, admin: bool = False) -> CallResult:
        return self.runner.run_query(path, {} if args is None else args, admin=admin)

    def mutation(self, path: str, args: Any = None, *, admin: bool = False) -> CallResult:
        return run(self.runner.run_mutation(path, {} if args is None else args, admin=admin))

    def action(self, path: str, args: Any = None, *, admin: bool = False) -> CallResult:
        return run(self.runner.run_action(path, {} if args is None else args, admin=admin))

    def value(self, result: CallResult) -> Any:
        """The value of a successful call; fails the test with the error otherwise."""
        if result.error is not None:
            pytest.fail(f"call failed: {type(result.error).__name__}: {result.error}")
        return result.value


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Path]:
    counter = itertools.count(1)

    def make(files: AppFiles, name: str | None = None) -> Path:
        return write_app(tmp_path / (name or f"app{next(counter)}"), files)

    return make


@pytest.fixture
def loaded_apps() -> Iterator[list[App]]:
    """Apps loaded by a test with ``load_app``; unloaded at teardown."""
    apps: list[App] = []
    yield apps
    for app in apps:
        unload(app)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    opened: list[Harness] = []
    counter = itertools.count(1)

    def make(
        files: AppFiles | Path, *, limits: Limits | None = None, name: str | None = None
    ) -> Harness:
        n = next(counter)
        root = (
            files if isinstance(files, Path) else write_app(tmp_path / (name or f"app{n}"), files)
        )
        app = load_app(root)
        engine = Engine(
            open_storage(tmp_path / f"data{n}" / "data.sqlite3", "normal"),
            app.schema,
            settings=Settings(limits=limits or Limits()),
        )
        try:
            engine.open()
        except BaseException:
            engine.close()
            unload(app)
            raise
        h = Harness(app, engine, Runner(engine, app), root)
        opened.append(h)
        return h

    yield make
    for h in opened:
        h.engine.close()
        unload(h.app)
