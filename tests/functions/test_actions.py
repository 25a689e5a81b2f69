"""Actions: calling queries, mutations and other actions; errors; the action time limit."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from livebase import AppError
from livebase.config import Limits
from livebase.errors import FunctionNotFoundError, LimitExceededError
from tests.support.calls import wait_until_async

from .conftest import CHAT_FILES, Harness, run

ACTIONS = {
    **CHAT_FILES,
    "flows.py": """
        import asyncio
        import time

        from livebase import AppError, action, internal_action, mutation, query


        @mutation
        def fail_app(ctx, channel: str):
            ctx.db.insert("messages", {"channel": channel, "body": "never committed"})
            raise AppError({"code": "Denied", "channel": channel})


        @mutation
        def fail_bug(ctx):
            raise KeyError("bug in mutation")


        @internal_action
        async def inner(ctx, x: float) -> float:
            return x * 10


        @internal_action
        def inner_def(ctx, x: float) -> float:
            return x * 100


        @action
        async def chain(ctx, channel: str) -> dict:
            first = await ctx.run_mutation("messages:send", {"channel": channel, "body": "one"})
            wiped_before = await ctx.run_query("admin/users:total")
            await ctx.run_mutation("messages:send", {"channel": channel, "body": "two"})
            listed = await ctx.run_query("messages:list", {"channel": channel})
            inner = await ctx.run_action("flows:inner", {"x": 1.5})
            inner_def = await ctx.run_action("flows:inner_def", {"x": 1.5})
            wiped = await ctx.run_mutation("admin/users:wipe", {"channel": channel})
            return {
                "first": first,
                "total_before": wiped_before,
                "bodies": [m["body"] for m in listed],
                "inner": inner,
                "inner_def": inner_def,
                "wiped": wiped,
            }


        @action
        def chain_def(ctx, channel: str) -> dict:
            first = ctx.run_mutation("messages:send", {"channel": channel, "body": "one"})
            total = ctx.run_query("admin/users:total")
            listed = ctx.run_query("messages:list", {"channel": channel})
            inner = ctx.run_action("flows:inner", {"x": 2.0})
            inner_def = ctx.run_action("flows:inner_def", {"x": 2.0})
            wiped = ctx.run_mutation("admin/users:wipe", {"channel": channel})
            return {
                "first": first,
                "total": total,
                "bodies": [m["body"] for m in listed],
                "inner": inner,
                "inner_def": inner_def,
                "wiped": wiped,
            }


        @action
        async def catch_app(ctx, channel: str) -> dict:
            try:
                await ctx.run_mutation("flows:fail_app", {"channel": channel})
            except AppError as exc:
                return {"caught": exc.data}
            return {"caught": None}


        @action
        def catch_app_def(ctx, channel: str) -> dict:
            try:
                ctx.run_mutation("flows:fail_app", {"channel": channel})
            except AppError as exc:
                return {"caught": exc.data}
            return {"caught": None}


        @action
        async def propagate_app(ctx, channel: str):
            await ctx.run_mutation("flows:fail_app", {"channel": channel})


        @action
        def propagate_app_def(ctx, channel: str):
            ctx.run_mutation("flows:fail_app", {"channel": channel})


        @action
        async def catch_bug(ctx) -> str:
            try:
                await ctx.run_mutation("flows:fail_bug")
            except KeyError as exc:
                return f"caught KeyError {exc}"
            return "nothing raised"


        @action
        def catch_bug_def(ctx) -> str:
            try:
                ctx.run_mutation("flows:fail_bug")
            except KeyError as exc:
                return f"caught KeyError {exc}"
            return "nothing raised"


        @action
        async def missing(ctx):
            return await ctx.run_query("messages:nope")


        @action
        async def slow(ctx):
            await asyncio.sleep(5)
            return "too late"


        @action
        def slow_def(ctx):
            time.sleep(0.4)
            return "too late"


        @action
        def slow_writer_def(ctx, done: str):
            try:
                time.sleep(0.3)
                ctx.run_mutation("messages:send", {"channel": "late", "body": "after timeout"})
            finally:
                open(done, "w").close()  # the write was tried (or the action was stopped)
            return "too late"


        @action
        async def slow_writer(ctx, done: str):
            try:
                await asyncio.sleep(0.3)
                late = {"channel": "late", "body": "after timeout"}
                await ctx.run_mutation("messages:send", late)
            finally:
                open(done, "w").close()  # the write was tried (or the action was cancelled)
            return "too late"
    """,
}


def test_async_action_runs_queries_mutations_and_actions(harness: Any) -> None:
    h: Harness = harness(ACTIONS)
    value = h.value(h.action("flows:chain", {"channel": "c"}))
    assert isinstance(value["first"], str)
    assert value["total_before"] == 1
    assert value["bodies"] == ["one", "two"]
    assert value["inner"] == 15.0
    assert value["inner_def"] == 150.0
    assert value["wiped"] == 2
    assert h.value(h.query("messages:count", {"channel": "c"})) == 0


def test_def_action_gets_values_directly(harness: Any) -> None:
    h: Harness = harness(ACTIONS)
    value = h.value(h.action("flows:chain_def", {"channel": "d"}))
    assert isinstance(value["first"], str)
    assert value["total"] == 1
    assert value["bodies"] == ["one"]
    assert value["inner"] == 20.0
    assert value["inner_def"] == 200.0
    assert value["wiped"] == 1


def test_example_style_action(harness: Any) -> None:
    h: Harness = harness(ACTIONS)
    value = h.value(h.action("messages:shout", {"channel": "c", "body": "hey"}))
    assert value["count"] == 1
    listed = h.value(h.query("messages:list", {"channel": "c"}))
    assert [m["body"] for m in listed] == ["HEY"]
    assert listed[0]["_id"] == value["id"]


def test_internal_action_is_hidden_from_clients(harness: Any) -> None:
    h: Harness = harness(ACTIONS)
    assert isinstance(h.action("flows:inner", {"x": 1.0}).error, FunctionNotFoundError)
    assert h.value(h.action("flows:inner", {"x": 1.0}, admin=True)) == 10.0


def test_mutation_app_error_reaches_the_action_as_the_exception(harness: Any) -> None:
    h: Harness = harness(ACTIONS)
    for path in ("flows:catch_app", "flows:catch_app_def"):
        assert h.value(h.action(path, {"channel": "x"})) == {
            "caught": {"code": "Denied", "channel": "x"}
        }, path
    for path in ("flows:propagate_app", "flows:propagate_app_def"):
        result = h.action(path, {"channel": "y"})
        assert isinstance(result.error, AppError), (path, result)
        assert result.error.data == {"code": "Denied", "channel": "y"}
    # The failed mutations committed nothing.
    assert h.value(h.query("admin/users:total", admin=True)) == 0


def test_mutation_bug_reaches_the_action_as_the_exception(harness: Any) -> None:
    h: Harness = harness(ACTIONS)
    for path in ("flows:catch_bug", "flows:catch_bug_def"):
        assert h.value(h.action(path)) == "caught KeyError 'bug in mutation'", path


def test_action_calling_unknown_function_fails(harness: Any) -> None:
    h: Harness = harness(ACTIONS)
    result = h.action("flows:missing")
    assert isinstance(result.error, FunctionNotFoundError)
    assert not result.rejected


def test_action_timeout(harness: Any) -> None:
    h: Harness = harness(ACTIONS, limits=Limits(max_action_seconds=0.1))
    for path in ("flows:slow", "flows:slow_def"):
        start = time.monotonic()
        result = h.action(path)
        elapsed = time.monotonic() - start
        assert isinstance(result.error, LimitExceededError), (path, result)
        assert result.error.code == "ActionTimeout"
        assert "0.1" in result.error.message
        # Loose for a loaded machine, yet short of the 5 s that flows:slow runs unstopped.
        assert elapsed < 4.0, elapsed
    # Quick actions still work under the same limit.
    assert h.value(h.action("flows:inner", {"x": 1.0}, admin=True)) == 10.0


def test_timed_out_action_cannot_write_afterwards(harness: Any, tmp_path: Path) -> None:
    """Once the caller was told an action timed out, the action must not commit anything.
    With ``thread`` isolation the action runs on (a thread cannot be stopped) and its ``ctx``
    refuses the write; with ``process`` isolation, see ``test_worker_processes.py``."""
    h: Harness = harness(ACTIONS, limits=Limits(max_action_seconds=0.1))
    h.engine.settings = replace(h.engine.settings, action_isolation="thread")

    async def scenario(path: str) -> tuple[Any, int]:
        done = tmp_path / path.replace(":", "-")
        result = await h.runner.run_action(path, {"done": str(done)})
        # The event loop keeps running, as in a server, until the action has tried its write (a
        # write let through would have committed by then).
        await wait_until_async(done.exists)
        count = h.runner.run_query("messages:count", {"channel": "late"})
        return result, count.value

    for path in ("flows:slow_writer", "flows:slow_writer_def"):
        result, count = run(scenario(path))
        assert getattr(result.error, "code", None) == "ActionTimeout", (path, result)
        assert count == 0, f"{path} wrote after it had timed out"


def test_calls_from_an_action_have_the_argument_size_limit(harness: Any) -> None:
    files = {
        "big.py": """
            from livebase import action, mutation


            @mutation
            def store(ctx, body: str) -> int:
                return len(body)


            @action
            async def relay(ctx, size: float) -> int:
                return await ctx.run_mutation("big:store", {"body": "x" * int(size)})
        """,
    }
    h: Harness = harness(files, limits=Limits(max_args_bytes=10_000))
    assert h.value(h.action("big:relay", {"size": 9_000.0})) == 9_000
    result = h.action("big:relay", {"size": 20_000.0})
    assert isinstance(result.error, LimitExceededError)
    assert result.error.code == "ArgumentsTooLarge" and "big:store" in result.error.message
