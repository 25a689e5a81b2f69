"""Actions in worker processes (``LIVEBASE_ACTION_ISOLATION=process``, the default), through
``Runner`` with real worker processes: ``ctx`` calls keep the caller's identity; results,
errors and log lines are the same as with ``thread`` isolation; a nested call in a full pool
does not deadlock; a timed-out action's worker is killed and nothing it tries afterwards is
applied."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from livebase.config import Limits
from livebase.errors import AppError, LivebaseError
from livebase.functions import worker_process
from livebase.functions.loader import unload
from livebase.functions.runner import CallResult
from livebase.functions.worker_process import ProcessPool
from livebase.server import Deployment
from tests.support.apps import write_app
from tests.support.calls import wait_until, wait_until_async
from tests.support.processes import alive

from .conftest import Harness, run

FILES = {
    "who.py": """
        import asyncio
        import logging
        import os
        import time

        from livebase import AppError, action, internal_query, mutation, query

        log = logging.getLogger(__name__)


        @query
        def me(ctx):
            return ctx.auth.get_user_identity()


        @internal_query
        def secret(ctx) -> str:
            return "internal"


        @mutation
        def record(ctx) -> str:
            who = ctx.auth.get_user_identity()
            return ctx.db.insert("seen", {"subject": who["subject"] if who else "nobody"})


        @query
        def seen(ctx) -> list:
            return [d["subject"] for d in ctx.db.query("seen").collect()]


        @action
        async def identities(ctx) -> dict:
            doc_id = await ctx.run_mutation("who:record", {})
            return {
                "own": ctx.auth.get_user_identity(),
                "query": await ctx.run_query("who:me", {}),
                "internal": await ctx.run_query("who:secret", {}),
                "seen": await ctx.run_query("who:seen", {}),
                "id": isinstance(doc_id, str),
            }


        @action
        def identities_def(ctx) -> dict:
            ctx.run_mutation("who:record", {})
            return {"own": ctx.auth.get_user_identity(), "query": ctx.run_query("who:me", {})}


        @action
        def chatty(ctx) -> int:
            print("hello from", "the action")
            log.info("info line")
            log.warning("warning line")
            return 3


        @action
        async def app_error(ctx):
            raise AppError({"code": "Nope", "n": 1})


        @action
        def bug(ctx):
            raise KeyError("missing thing")


        @action
        def not_a_value(ctx):
            return {1, 2}


        @action
        def missing_call(ctx):
            return ctx.run_query("who:nope", {})


        @action
        def bad_args(ctx):
            return ctx.run_mutation("who:record", {"extra": 1.0})


        @action
        def outer(ctx) -> str:
            return "outer+" + ctx.run_action("who:inner", {})


        @action
        async def inner(ctx) -> str:
            return "inner"


        @action
        def pid(ctx) -> float:
            return float(os.getpid())


        @action
        def late_writer(ctx, started: str) -> str:
            open(started, "w").close()
            time.sleep(1.0)
            ctx.run_mutation("who:record", {})
            return "too late"
    """,
}

IDENTITY = {"subject": "user-1", "issuer": "https://issuer.example", "name": "Ada"}


def outcome(result: CallResult) -> tuple[Any, ...]:
    """What a caller sees of a call: value or error (class, code, message, data) and logs."""
    err = result.error
    if err is None:
        return ("ok", result.value, result.log_lines)
    code = getattr(err, "code", None)
    return ("error", type(err).__name__, code, result.error_message().split("] ")[-1],
            result.error_data(), result.log_lines)  # fmt: skip


def isolated(h: Harness, isolation: str, **changes: Any) -> Harness:
    h.engine.settings = replace(h.engine.settings, action_isolation=isolation, **changes)
    if changes:  # a pool sized by the new settings (the runner warmed one when it was made)
        h.runner.close()
        h.runner._processes = None
    return h


def test_ctx_calls_from_a_worker_keep_the_callers_identity(harness: Any) -> None:
    h: Harness = harness(FILES)
    for path in ("who:identities", "who:identities_def"):
        result = run(h.runner.run_action(path, {}, identity=IDENTITY))
        value = h.value(result)
        assert value["own"] == IDENTITY, path
        assert value["query"] == IDENTITY, path
    assert h.value(run(h.runner.run_action("who:identities", {})))["query"] is None
    value = h.value(run(h.runner.run_action("who:identities", {}, identity=IDENTITY)))
    assert value["internal"] == "internal"  # an action may call internal functions
    assert value["id"] is True
    assert h.value(h.query("who:seen")).count("user-1") >= 3
    assert h.value(h.query("who:seen")).count("nobody") == 1
    assert all(pid != os.getpid() for pid in h.runner.processes.pids())


@pytest.mark.parametrize(
    "path",
    ["who:chatty", "who:app_error", "who:bug", "who:not_a_value", "who:missing_call",
     "who:bad_args", "who:outer"],
)  # fmt: skip
def test_a_worker_gives_the_same_outcome_as_a_thread(harness: Any, path: str) -> None:
    h: Harness = harness(FILES)
    in_thread = outcome(isolated(h, "thread").action(path))
    in_process = outcome(isolated(h, "process").action(path))
    assert in_process == in_thread
    if path == "who:chatty":
        assert in_process[2] == ["[LOG] hello from the action", "[INFO] info line",
                                 "[WARN] warning line"]  # fmt: skip
    if path == "who:app_error":
        assert in_process[4] == {"code": "Nope", "n": 1}


def test_errors_keep_their_class_and_code(harness: Any) -> None:
    h: Harness = harness(FILES)
    assert isinstance(h.action("who:app_error").error, AppError)
    assert isinstance(h.action("who:bug").error, KeyError)
    error = h.action("who:missing_call").error
    assert isinstance(error, LivebaseError) and error.code == "FunctionNotFound"


def test_a_nested_action_does_not_deadlock_a_full_pool(harness: Any) -> None:
    h: Harness = isolated(harness(FILES), "process", action_processes=1)
    assert h.value(h.action("who:outer")) == "outer+inner"
    assert h.runner.processes.size == 1
    assert h.value(h.action("who:outer")) == "outer+inner"  # and again, with the pool warm


def test_a_timed_out_worker_is_killed_and_its_late_write_never_lands(
    harness: Any, tmp_path: Any
) -> None:
    h: Harness = harness(FILES, limits=Limits(max_action_seconds=0.3))
    h = isolated(h, "process", action_processes=1)
    worker = int(h.value(h.action("who:pid")))
    started = tmp_path / "started"

    async def scenario() -> CallResult:
        result = await h.runner.run_action("who:late_writer", {"started": str(started)})
        # The loop keeps running, as in a server, until the killed worker is gone: a write it
        # sent would have been performed by then.
        await wait_until_async(lambda: not alive(worker))
        await asyncio.sleep(0)
        return result

    result = run(scenario())
    assert started.exists(), "the action never started"
    assert getattr(result.error, "code", None) == "ActionTimeout", result
    assert h.value(h.query("who:seen")) == []
    assert int(h.value(h.action("who:pid"))) != worker  # a replacement serves the next call


def test_closing_a_deployment_stops_its_action_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEBASE_ACTION_ISOLATION", "process")
    deployment = Deployment(write_app(tmp_path / "app", FILES), tmp_path / "data")
    try:
        result = asyncio.run(deployment.runner.run_action("who:pid", {}, admin=True))
        worker = int(result.value)
        assert worker != os.getpid() and alive(worker)
        deployment.close()
        wait_until(lambda: not alive(worker), timeout=10)
    finally:
        unload(deployment.app)


def test_a_pool_closed_while_a_worker_is_being_started_does_not_deadlock(tmp_path: Path) -> None:
    """A pool is also closed by a garbage-collection finalizer (its runner was dropped), which
    may run in the spawner thread in the middle of starting another pool's worker, with the
    start lock held. Before: that thread waited for its own lock for ever."""
    pool = ProcessPool(write_app(tmp_path / "app", FILES), 1)
    closed = threading.Event()

    def finalizer_during_a_start() -> None:
        with worker_process._start_lock:
            pool.close()
        closed.set()

    threading.Thread(target=finalizer_during_a_start, daemon=True).start()
    assert closed.wait(10), "closing a pool while a worker was being started deadlocked"
