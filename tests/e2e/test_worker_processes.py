"""Actions in worker processes, against a real ``livebase serve``: four CPU-bound actions leave
other clients' p99 within 50 ms of idle; an action stuck in one long C call is killed at its
deadline (the caller hears at once, the worker is gone, the next action runs); ``livebase dev``
reload gives workers the new code; stopping (or killing) the server leaves no worker behind."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.apps import write_app
from tests.support.calls import wait_until
from tests.support.processes import alive
from tests.support.server import LivebaseServer, base_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

BURN_SECONDS = 10.0
MEASURE_SECONDS = 3.0
# Burning well past the measurement: on a loaded machine the four actions may start seconds
# apart, and the proof needs all four busy for the whole measurement.

APP = {
    "work.py": """
        import os
        import re
        import time

        from livebase import action, mutation, query


        def spin(seconds):
            n = 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                n += 1
            return n


        @action
        async def burn(ctx, seconds: float) -> float:
            await ctx.run_mutation("work:started", {})
            return float(spin(seconds))  # never awaits


        @action
        def burn_sync(ctx, seconds: float) -> float:
            ctx.run_mutation("work:started", {})
            return float(spin(seconds))


        @action
        def stuck_in_c(ctx) -> bool:
            ctx.run_mutation("work:started", {})
            # Catastrophic backtracking: one C call that holds the GIL for longer than anyone
            # would wait.
            return re.match(r"(a+)+$", "a" * 64 + "b") is not None


        @action
        def pid(ctx) -> float:
            return float(os.getpid())


        @action
        async def schedule(ctx) -> str:
            job = await ctx.scheduler.run_after(0, "work:started", {})
            return job


        @action
        def schedule_def(ctx) -> str:
            return ctx.scheduler.run_at(0, started, {})


        @action
        def version(ctx) -> str:
            return "one"


        @mutation
        def started(ctx) -> None:
            ctx.db.insert("started", {"at": ctx.now})


        @query
        def count(ctx) -> float:
            return float(len(ctx.db.query("started").collect()))


        @query
        def ping(ctx) -> float:
            return 1.0
    """,
}


def call(http: httpx.Client, kind: str, path: str, args: dict[str, Any] | None = None) -> Any:
    body = http.post(f"/api/{kind}", json={"path": path, "args": args or {}, "format": "json"})
    reply = body.json()
    assert reply["status"] == "success", body.text
    return reply["value"]


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_four_busy_actions_keep_others_p99_within_50_ms_of_idle(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", APP)
    env = base_env(LIVEBASE_ACTION_PROCESSES="4")
    with LivebaseServer.launch(tmp_path / "s", app=app, env=env) as server:
        http = httpx.Client(base_url=server.url, timeout=60)
        for _ in range(4):  # the four workers start (and stay warm) before anything is measured
            call(http, "action", "work:pid")
        idle = []
        for _ in range(300):
            t0 = time.perf_counter()
            call(http, "query", "work:ping")
            idle.append(time.perf_counter() - t0)

        done: list[float] = []

        def burn(path: str) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as own:
                call(own, "action", path, {"seconds": BURN_SECONDS})
                done.append(time.monotonic())

        paths = ["work:burn", "work:burn", "work:burn_sync", "work:burn_sync"]
        burners = [threading.Thread(target=burn, args=(p,)) for p in paths]
        for t in burners:
            t.start()
        wait_until(lambda: call(http, "query", "work:count") == 4.0)  # all four are burning
        began = time.monotonic()
        busy = []
        while time.monotonic() - began < MEASURE_SECONDS and len(busy) < 2000:
            t0 = time.perf_counter()
            call(http, "query", "work:ping")
            busy.append(time.perf_counter() - t0)
        still_busy = not done
        for t in burners:
            t.join()
        http.close()

    assert still_busy, "the busy actions ended before the measurement did: nothing was proved"
    assert len(busy) >= 100, f"only {len(busy)} queries answered while the actions burned"
    rise = p99(busy) - p99(idle)
    # Threads sharing the server's GIL raised it by 144-253 ms on this 2-core machine.
    assert rise < 0.050, f"p99 rose by {rise * 1e3:.1f} ms (idle {p99(idle) * 1e3:.1f} ms)"


def test_an_action_stuck_in_a_c_call_is_killed_at_its_deadline(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", APP)
    env = base_env(LIVEBASE_ACTION_PROCESSES="1", LIVEBASE_MAX_ACTION_SECONDS="2")
    with LivebaseServer.launch(tmp_path / "s", app=app, env=env) as server:
        http = httpx.Client(base_url=server.url, timeout=60)
        worker = int(call(http, "action", "work:pid"))  # the pool's only worker
        assert worker != server.process.pid and alive(worker)

        replies: list[tuple[float, dict[str, Any]]] = []

        def stuck() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as own:
                body = {"path": "work:stuck_in_c", "args": {}, "format": "json"}
                reply = own.post("/api/action", json=body).json()
                replies.append((time.monotonic(), reply))

        caller = threading.Thread(target=stuck)
        sent = time.monotonic()
        caller.start()
        wait_until(lambda: call(http, "query", "work:count") == 1.0)  # it is in the C call
        t0 = time.perf_counter()
        call(http, "query", "work:ping")  # the server answers meanwhile
        assert time.perf_counter() - t0 < 1.0
        caller.join(30)
        assert replies, "the stuck action's caller got no answer"
        answered, reply = replies[0]
        assert reply["status"] == "error", reply
        assert "ActionTimeout" in reply["errorMessage"], reply
        assert answered - sent < 2.0 + 2.0, f"answered {answered - sent:.2f} s after the call"
        wait_until(lambda: not alive(worker), timeout=10)
        replacement = int(call(http, "action", "work:pid"))  # the next action runs
        assert replacement != worker and alive(replacement)
        http.close()


def test_scheduler_calls_from_a_worker(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", APP)
    with LivebaseServer.launch(tmp_path / "s", app=app) as server:
        http = httpx.Client(base_url=server.url, timeout=60)
        assert isinstance(call(http, "action", "work:schedule"), str)
        assert isinstance(call(http, "action", "work:schedule_def"), str)  # by function
        wait_until(lambda: call(http, "query", "work:count") == 2.0)  # both jobs ran
        http.close()


def test_dev_reload_gives_workers_the_new_code(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", APP)
    with LivebaseServer.launch(tmp_path / "s", app=app, command="dev") as server:
        http = httpx.Client(base_url=server.url, timeout=60)
        assert call(http, "action", "work:version") == "one"
        old = int(call(http, "action", "work:pid"))
        source = (app / "work.py").read_text()
        (app / "work.py").write_text(source.replace('return "one"', 'return "two"'))
        wait_until(lambda: call(http, "action", "work:version") == "two", timeout=30)
        wait_until(lambda: not alive(old), timeout=10)  # the old code's worker was let go
        http.close()


@pytest.mark.parametrize("how", ["stop", "kill9"])
def test_no_worker_outlives_the_server(tmp_path: Path, how: str) -> None:
    app = write_app(tmp_path / "app", APP)
    env = base_env(LIVEBASE_ACTION_PROCESSES="2")
    server = LivebaseServer.launch(tmp_path / "s", app=app, env=env)
    try:
        http = httpx.Client(base_url=server.url, timeout=60)
        # Two at once, so that both workers start.
        burners = [
            threading.Thread(target=lambda: call(http, "action", "work:burn", {"seconds": 1.0}))
            for _ in range(2)
        ]
        for t in burners:
            t.start()
        for t in burners:
            t.join()
        assert server.process is not None
        spawned = children(server.process.pid)
        workers = {int(call(http, "action", "work:pid")) for _ in range(4)}
        assert workers and workers <= spawned, (workers, spawned)
        http.close()
        if how == "stop":
            server.stop()
        else:
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(30)
        wait_until(lambda: not any(alive(pid) for pid in spawned), timeout=15)
    finally:
        server.stop()
