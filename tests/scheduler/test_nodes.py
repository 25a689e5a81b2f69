"""Two workers on one PostgreSQL database, with a shared fake clock: a node running a long
action keeps it alive by its heartbeat; once the heartbeat stops, the other node fails it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from livebase.config import Settings
from livebase.functions.loader import unload
from livebase.runtime import FakeRuntime
from livebase.server import Deployment
from tests.support.apps import write_app
from tests.support.calls import wait_until_async
from tests.support.postgres import fresh_database_url

APP = {
    "jobs.py": """
        import asyncio

        from livebase import action, mutation, query


        @action
        async def hold(ctx) -> None:
            await asyncio.sleep(3600)


        @mutation
        def start(ctx) -> str:
            return ctx.scheduler.run_after(0, hold, {})


        @query
        def state(ctx, id: str) -> str:
            return ctx.db.system.get(id)["state"]["kind"]
    """,
}


def test_a_live_node_keeps_its_long_action_and_a_dead_one_loses_it(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", APP)
    clock = FakeRuntime()
    with fresh_database_url("nodes") as url:
        a = Deployment(app, tmp_path / "a", settings=Settings(), runtime=clock, db=url)
        b = Deployment(app, tmp_path / "b", settings=Settings(), runtime=clock, db=url)
        try:
            a.open()
            b.open()

            async def main() -> None:
                started = await a.runner.run_mutation("jobs:start", {})
                job = started.value

                def state() -> str:
                    return str(b.runner.run_query("jobs:state", {"id": job}).value)

                # a claims the action and runs it; with nothing else due it still wakes within
                # the heartbeat period, so the others keep seeing it alive
                assert await a.worker.tick() <= 2.0
                await wait_until_async(lambda: state() == "inProgress")  # the claim is a task
                for _ in range(5):  # a minute passes; a keeps ticking (heartbeats)
                    clock.advance(12)
                    await a.worker.tick()
                    await b.worker.tick()
                    assert state() == "inProgress", "a live node's action was failed"
                clock.advance(11)  # a stops ticking: its heartbeat goes stale
                await b.worker.tick()
                assert state() == "failed"
                for task in list(a.worker._running.values()):
                    task.cancel()

            asyncio.run(main())
        finally:
            for d in (a, b):
                d.close()
                unload(d.app)
