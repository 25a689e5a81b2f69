"""Platform services on a real server process: a webhook stored by an HTTP route and processed
by scheduled jobs with an app-level retry policy, watched by a live subscription; scheduled
mutations that run exactly once across ``kill -9``; an interrupted action marked failed."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livebase.client import Client
from tests.support.apps import write_app
from tests.support.calls import call as call_url
from tests.support.calls import wait_until
from tests.support.postgres import fresh_database_url
from tests.support.server import REPO_ROOT, LivebaseServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

WEBHOOKS_APP = REPO_ROOT / "examples" / "webhooks"


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Each test runs on both backends: None is SQLite in the server's folder."""
    if request.param == "sqlite":
        yield None
    else:
        with fresh_database_url("svc") as url:
            yield url


def test_webhook_is_stored_then_processed_with_retries_and_seen_live(
    tmp_path: Path, db: str | None
) -> None:
    with LivebaseServer.launch(tmp_path, app=WEBHOOKS_APP, db=db) as server:
        # One action first: the backoff check below times the first attempt, and the first
        # action after a start may still wait for its worker process to finish starting.
        warm_up = {"path": "webhooks:process", "args": {"id": "none"}, "format": "json"}
        auth = {"Authorization": f"Convex {server.admin_key}"}
        httpx.post(f"{server.url}/api/action", json=warm_up, headers=auth, timeout=60)
        started = time.monotonic()
        response = httpx.post(
            f"{server.url}/webhooks/github", json={"action": "opened", "fail_times": 2}
        )
        assert response.status_code == 202
        hook_id = response.json()["id"]

        async def watch() -> list[dict[str, Any]]:
            seen: list[dict[str, Any]] = []
            async with Client(server.url) as client:
                async for hook in client.subscribe("webhooks:get", {"id": hook_id}):
                    seen.append(hook)
                    if hook["status"] in ("done", "failed"):
                        return seen
            return seen

        seen = asyncio.run(asyncio.wait_for(watch(), 30))
        final = seen[-1]
        assert final["status"] == "done"
        assert final["attempts"] == 3
        assert final["result"] == {"processed": True, "attempt": 3}
        assert final["error"] == "upstream unavailable (attempt 2)"  # the last failure
        assert time.monotonic() - started < 20
        assert len(seen) >= 2  # the subscription saw it move, not only the end state

        jobs = call(server, "query", "webhooks:jobs", {"limit": 10})
        process_runs = sorted(
            (j for j in jobs if j["name"] == "webhooks:process"), key=lambda j: j["scheduledTime"]
        )
        assert [j["state"]["kind"] for j in process_runs] == ["failed", "failed", "success"]
        assert "upstream unavailable (attempt 1)" in process_runs[0]["state"]["error"]
        times = [j["scheduledTime"] for j in process_runs]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[1] > gaps[0] >= 250  # exponential backoff, in ms

        stats = {k: int(n) for k, n in call(server, "query", "webhooks:stats", {}).items()}
        assert stats == {"received": 0, "processing": 0, "done": 1, "failed": 0}


def test_webhook_route_rejects_bad_input_without_storing(tmp_path: Path, db: str | None) -> None:
    with LivebaseServer.launch(tmp_path, app=WEBHOOKS_APP, db=db) as server:
        bad = httpx.post(f"{server.url}/webhooks/github", content=b"{not json")
        assert bad.status_code == 400 and "JSON" in bad.json()["error"]
        assert httpx.post(f"{server.url}/webhooks/", json={}).status_code == 404
        assert call(server, "query", "webhooks:recent", {}) == []


JOBS_APP = {
    "jobs.py": """
        import asyncio

        from livebase import action, internal_mutation, mutation, query


        @internal_mutation
        def record(ctx, n: int) -> None:
            ctx.db.insert("runs", {"n": n})


        @mutation
        def schedule_many(ctx, count: float, delay: float) -> int:
            for n in range(int(count)):
                ctx.scheduler.run_after(delay, record, {"n": n})
            return count


        @action
        async def slow(ctx) -> None:
            await ctx.run_mutation("jobs:record", {"n": -1})
            await asyncio.sleep(60)


        @mutation
        def schedule_slow(ctx) -> str:
            return ctx.scheduler.run_after(0, slow, {})


        @query
        def runs(ctx) -> list[int]:
            return [r["n"] for r in ctx.db.query("runs").collect()]


        @query
        def job(ctx, id: str) -> dict | None:
            return ctx.db.system.get(id)


        @query
        def states(ctx) -> dict:
            out: dict = {}
            for job in ctx.db.system.query("_scheduled_functions").collect():
                kind = job["state"]["kind"]
                out[kind] = out.get(kind, 0) + 1
            return out
    """,
}


JOBS_HTTP = """
    from starlette.responses import JSONResponse

    from livebase import HttpRouter

    http = HttpRouter()


    @http.route("/later", method="POST")
    async def later(ctx, request):
        n = int((await request.json())["n"])
        job = await ctx.scheduler.run_after(2.0, "jobs:record", {"n": n})
        return JSONResponse({"job": job}, status_code=202)
"""


def test_an_http_route_schedules_work_and_answers_at_once(tmp_path: Path, db: str | None) -> None:
    app = write_app(tmp_path / "app", {**JOBS_APP, "http.py": JOBS_HTTP})
    delay = 2.0  # what the route schedules the job after
    with LivebaseServer.launch(tmp_path / "s", app=app, db=db) as server:
        sent = time.monotonic()
        response = httpx.post(f"{server.url}/later", json={"n": 7})
        assert response.status_code == 202
        assert time.monotonic() - sent < delay  # answered at once, not after the job
        job = response.json()["job"]
        state = call(server, "query", "jobs:job", {"id": job})["state"]["kind"]
        if time.monotonic() - sent < delay:  # a loaded machine may take longer to ask
            assert state == "pending"
        wait_until(
            lambda: call(server, "query", "jobs:job", {"id": job})["state"]["kind"] == "success"
        )
        assert [int(n) for n in call(server, "query", "jobs:runs", {})] == [7]


def test_scheduled_mutations_run_exactly_once_across_kill_9(tmp_path: Path, db: str | None) -> None:
    app = write_app(tmp_path / "app", JOBS_APP)
    total = 0
    with LivebaseServer.launch(tmp_path / "s", app=app, durability="normal", db=db) as server:
        # The action must be running when the server dies: start it first and wait for it
        # (queued behind the due mutations, it could still be pending at the kill, and would
        # then rightly run after the restart instead of being failed).
        slow_job = call(server, "mutation", "jobs:schedule_slow", {})
        wait_until(
            lambda: call(server, "query", "jobs:job", {"id": slow_job})["state"]["kind"]
            == "inProgress"
            and -1 in [int(n) for n in call(server, "query", "jobs:runs", {})]
        )
        for _ in range(3):  # 3 x 400 jobs, all due in 1 s
            total += call(server, "mutation", "jobs:schedule_many", {"count": 400, "delay": 1.0})
        # Kill it while the due jobs are being worked through.
        seen: list[int] = []
        wait_until(
            lambda: seen.append(len(call(server, "query", "jobs:runs", {}))) or seen[-1] > 150
        )
        server.kill9()
        assert seen[-1] < total  # killed part-way through the due jobs
        server.restart()
        wait_until(lambda: "pending" not in call(server, "query", "jobs:states", {}))
        runs = [int(n) for n in call(server, "query", "jobs:runs", {})]
        states = {k: int(n) for k, n in call(server, "query", "jobs:states", {}).items()}

    recorded = sorted(n for n in runs if n >= 0)
    assert len(recorded) == total  # nothing lost, nothing twice
    assert recorded == sorted(list(range(400)) * 3)
    assert runs.count(-1) == 1  # the interrupted action ran once and was not re-run
    assert states == {"success": total, "failed": 1}


def call(server: LivebaseServer, kind: str, path: str, args: dict[str, Any]) -> Any:
    return call_url(server.url, server.admin_key, kind, path, args)
