"""Scheduled functions with an injected clock: transactional scheduling, states, exactly-once
mutations, at-most-once actions, cancel, restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from livebase.errors import AppError, LivebaseError
from livebase.runtime import FakeRuntime
from livebase.scheduler.jobs import IN_PROGRESS, set_state
from tests.scheduler.conftest import Live
from tests.support.calls import assert_stops_when_cancelled_as_woken

APP = {
    "jobs.py": """
        from livebase import AppError, action, internal_mutation, mutation, query


        @internal_mutation
        def record(ctx, tag: str) -> str:
            return ctx.db.insert("log", {"tag": tag, "at": ctx.now})


        @mutation
        def schedule(ctx, tag: str, delay: float = 10, fail: bool = False) -> str:
            job = ctx.scheduler.run_after(delay, "jobs:record", {"tag": tag})
            ctx.db.insert("parents", {"tag": tag})
            if fail:
                raise AppError("parent failed")
            return job


        @mutation
        def schedule_at(ctx, when: float) -> str:
            return ctx.scheduler.run_at(when, "jobs:record", {"tag": f"at {when}"})


        @mutation
        def cancel(ctx, id: str) -> None:
            ctx.scheduler.cancel(id)


        @mutation
        def bad_args(ctx) -> str:
            return ctx.scheduler.run_after(1, "jobs:record", {"tag": 5})


        @mutation
        def schedule_query(ctx) -> str:
            return ctx.scheduler.run_after(1, "jobs:jobs", {})


        @mutation
        def schedule_missing(ctx) -> str:
            return ctx.scheduler.run_after(1, "jobs:nope", {})


        @internal_mutation
        def broken(ctx, tag: str) -> None:
            ctx.db.insert("log", {"tag": tag})
            raise ValueError("broken job")


        @mutation
        def schedule_broken(ctx) -> str:
            return ctx.scheduler.run_after(0, broken, {"tag": "never"})


        @action
        async def fetch(ctx, tag: str, fail: bool = False) -> str:
            await ctx.run_mutation("jobs:record", {"tag": tag})
            if fail:
                raise RuntimeError("upstream said 503")
            return tag


        @action
        async def fan_out(ctx, n: int, fail: bool = False) -> None:
            for i in range(n):
                await ctx.scheduler.run_after(0, "jobs:record", {"tag": f"fan {i}"})
            if fail:
                raise RuntimeError("after scheduling")


        @action
        def fan_out_sync(ctx) -> str:
            return ctx.scheduler.run_after(1, "jobs:record", {"tag": "from a thread"})


        @mutation
        def schedule_action(ctx, tag: str, fail: bool = False) -> str:
            return ctx.scheduler.run_after(0, fetch, {"tag": tag, "fail": fail})


        @query
        def jobs(ctx) -> list:
            return [
                {"name": j["name"], "state": j["state"]["kind"]}
                for j in ctx.db.system.query("_scheduled_functions").collect()
            ]


        @query
        def job(ctx, id: str) -> dict | None:
            return ctx.db.system.get(id)
    """,
}


def tags(live: Live) -> list[str]:
    return [row["tag"] for row in live.table("log")]


def test_a_scheduled_mutation_commits_and_rolls_back_with_its_parent(deploy: Any) -> None:
    live: Live = deploy(APP)

    async def main() -> None:
        job = await live.mutation("jobs:schedule", {"tag": "kept"})
        with pytest.raises(AppError, match="parent failed"):
            await live.mutation("jobs:schedule", {"tag": "rolled back", "fail": True})
        assert [j["name"] for j in live.jobs()] == ["jobs:record"]
        assert [p["tag"] for p in live.table("parents")] == ["kept"]
        assert live.query("jobs:jobs") == [{"name": "jobs:record", "state": "pending"}]

        assert await live.advance(9.9) == 0  # not due yet
        assert tags(live) == []
        assert await live.advance(0.1) == 1
        assert tags(live) == ["kept"]
        row = live.query("jobs:job", {"id": job})
        assert row["state"] == {"kind": "success"}
        assert row["args"] == [{"tag": "kept"}]
        assert row["completedTime"] >= row["scheduledTime"]
        assert live.table("log")[0]["at"] == row["scheduledTime"]  # ran at its time, not later
        assert await live.advance(100) == 0  # ran once

    asyncio.run(main())


def test_run_at_takes_datetimes_seconds_and_milliseconds(deploy: Any) -> None:
    clock = FakeRuntime(start_ns=1_800_000_000 * 10**9)
    live: Live = deploy(APP, clock=clock)

    async def main() -> None:
        now_s = clock.now_ns / 1e9
        await live.mutation("jobs:schedule_at", {"when": now_s + 60})  # seconds
        await live.mutation("jobs:schedule_at", {"when": (now_s + 120) * 1000})  # milliseconds
        times = sorted(j["scheduledTime"] for j in live.jobs())
        assert times == [(now_s + 60) * 1000, (now_s + 120) * 1000]
        assert await live.advance(61) == 1
        assert await live.advance(60) == 1

    asyncio.run(main())
    when = datetime(2030, 1, 1, tzinfo=UTC)
    from livebase.functions.scheduling import run_at_ms

    assert run_at_ms(when) == when.timestamp() * 1000
    with pytest.raises(LivebaseError, match="timezone-aware"):
        run_at_ms(datetime(2030, 1, 1))


def test_cancel_stops_a_pending_job(deploy: Any) -> None:
    live: Live = deploy(APP)

    async def main() -> None:
        job = await live.mutation("jobs:schedule", {"tag": "canceled"})
        await live.mutation("jobs:cancel", {"id": job})
        assert await live.advance(60) == 0
        assert tags(live) == []
        row = live.query("jobs:job", {"id": job})
        assert row["state"] == {"kind": "canceled"} and "completedTime" in row
        with pytest.raises(LivebaseError, match="not a scheduled function id"):
            await live.mutation("jobs:cancel", {"id": "nonsense"})

    asyncio.run(main())


def test_scheduling_validates_target_and_arguments_up_front(deploy: Any) -> None:
    live: Live = deploy(APP)

    async def main() -> None:
        with pytest.raises(LivebaseError, match="invalid arguments for jobs:record"):
            await live.mutation("jobs:bad_args")
        with pytest.raises(LivebaseError, match="is a query"):
            await live.mutation("jobs:schedule_query")
        with pytest.raises(LivebaseError, match="jobs:nope"):
            await live.mutation("jobs:schedule_missing")
        assert live.jobs() == []

    asyncio.run(main())


def test_a_failing_mutation_job_is_failed_and_its_writes_rolled_back(deploy: Any) -> None:
    live: Live = deploy(APP)

    async def main() -> None:
        job = await live.mutation("jobs:schedule_broken")
        assert await live.run_due() == 1
        row = live.query("jobs:job", {"id": job})
        assert row["state"]["kind"] == "failed"
        assert "broken job" in row["state"]["error"]
        assert tags(live) == []
        assert await live.advance(60) == 0  # developer errors are not retried

    asyncio.run(main())


def test_action_jobs_record_start_and_outcome(deploy: Any) -> None:
    live: Live = deploy(APP)

    async def main() -> None:
        ok = await live.mutation("jobs:schedule_action", {"tag": "ok"})
        bad = await live.mutation("jobs:schedule_action", {"tag": "bad", "fail": True})
        assert await live.run_due() == 2
        ok_row, bad_row = live.query("jobs:job", {"id": ok}), live.query("jobs:job", {"id": bad})
        assert ok_row["state"] == {"kind": "success"}
        assert "startedTime" in ok_row and "completedTime" in ok_row
        assert bad_row["state"]["kind"] == "failed"
        assert "upstream said 503" in bad_row["state"]["error"]
        assert sorted(tags(live)) == ["bad", "ok"]
        assert await live.advance(60) == 0  # a failed action is not retried

    asyncio.run(main())


def test_scheduling_from_an_action_commits_at_once(deploy: Any) -> None:
    live: Live = deploy(APP)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="after scheduling"):
            await live.action("jobs:fan_out", {"n": 3, "fail": True})
        assert len(live.jobs()) == 3  # kept although the action failed
        job = await live.action("jobs:fan_out_sync")
        assert isinstance(job, str)
        assert await live.advance(1) == 4
        assert sorted(tags(live)) == ["fan 0", "fan 1", "fan 2", "from a thread"]

    asyncio.run(main())


def test_jobs_survive_a_restart_and_run_once(deploy: Any, tmp_path: Path) -> None:
    clock = FakeRuntime()
    data = tmp_path / "shared-data"
    first: Live = deploy(APP, clock=clock, data=data)

    async def schedule() -> None:
        for i in range(5):
            await first.mutation("jobs:schedule", {"tag": f"t{i}", "delay": 30})

    asyncio.run(schedule())
    first.deployment.close()
    clock.advance(3600)  # the server was down when they fell due
    second: Live = deploy(first.deployment.app_dir, clock=clock, data=data)

    async def resume() -> None:
        assert await second.run_due() == 5
        assert await second.advance(3600) == 0

    asyncio.run(resume())
    assert sorted(tags(second)) == [f"t{i}" for i in range(5)]
    assert {j["state"]["kind"] for j in second.jobs()} == {"success"}


def test_an_action_interrupted_by_a_crash_is_failed_not_rerun(deploy: Any, tmp_path: Path) -> None:
    clock = FakeRuntime()
    data = tmp_path / "shared-data"
    first: Live = deploy(APP, clock=clock, data=data)

    async def claim() -> str:
        job: str = await first.mutation("jobs:schedule_action", {"tag": "interrupted"})
        # What a worker does before running the action; the process then "dies".
        await first.deployment.engine.mutate(lambda tx: set_state(tx, job, IN_PROGRESS))
        return job

    job = asyncio.run(claim())
    first.deployment.close()
    second: Live = deploy(first.deployment.app_dir, clock=clock, data=data)

    async def resume() -> None:
        assert await second.run_due() == 0
        row = second.query("jobs:job", {"id": job})
        assert row["state"]["kind"] == "failed"
        assert "at most once" in row["state"]["error"]
        assert tags(second) == []

    asyncio.run(resume())


def test_finished_jobs_are_removed_after_the_retention_period(deploy: Any) -> None:
    live: Live = deploy(APP)

    async def main() -> None:
        await live.mutation("jobs:schedule", {"tag": "old", "delay": 0})
        await live.run_due()
        assert len(live.jobs()) == 1
        live.clock.advance(8 * 86400)
        worker = live.deployment.worker
        worker._last_cleanup = None  # the hourly cleanup is due
        await live.mutation("jobs:schedule", {"tag": "new", "delay": 0})
        await live.run_due()
        assert [j["args"][0]["tag"] for j in live.jobs()] == ["new"]

    asyncio.run(main())


def test_the_worker_loop_stops_when_cancelled_just_as_it_is_woken(deploy: Any) -> None:
    live: Live = deploy(APP)
    worker = live.deployment.worker

    async def main() -> None:
        task = asyncio.ensure_future(worker.run())
        await assert_stops_when_cancelled_as_woken(task, lambda: worker._wake)

    asyncio.run(main())
