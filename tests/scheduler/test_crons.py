"""Crons: expressions, first run, no overlap, one catch-up after downtime, reload, run history."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from livebase.errors import AppLoadError
from livebase.runtime import FakeRuntime
from livebase.scheduler.cron import CronExpression, Crons, CronSyntaxError
from livebase.scheduler.jobs import CRON_JOBS
from tests.scheduler.conftest import Live


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("*/5 * * * *", "2026-01-01T10:02:30", "2026-01-01T10:05:00"),
        ("*/5 * * * *", "2026-01-01T10:05:00", "2026-01-01T10:10:00"),
        ("0 9 * * 1-5", "2026-01-02T09:00:00", "2026-01-05T09:00:00"),  # Fri -> Mon
        ("30 2 1 * *", "2026-01-31T23:00:00", "2026-02-01T02:30:00"),
        ("0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),  # leap day
        ("15 10 * jan,jul sun", "2026-01-01T00:00:00", "2026-01-04T10:15:00"),
        ("0 12 13 * fri", "2026-02-01T00:00:00", "2026-02-06T12:00:00"),  # dom OR dow
        ("59 23 31 12 *", "2026-12-31T23:59:00", "2027-12-31T23:59:00"),
        ("0 0 * * 7", "2026-01-01T00:00:00", "2026-01-04T00:00:00"),  # 7 is Sunday too
    ],
)
def test_cron_expressions(expr: str, after: str, expected: str) -> None:
    assert CronExpression.parse(expr).next_after(at(after)) == at(expected)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * * *", "needs 5 fields"),
        ("60 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("*/0 * * * *", "bad step"),
        ("* * * foo *", "not a number"),
        ("0 0 31 2 *", "never matches"),
    ],
)
def test_bad_cron_expressions_say_what_is_wrong(expr: str, message: str) -> None:
    with pytest.raises(CronSyntaxError, match=message):
        CronExpression.parse(expr).next_after(at("2026-01-01T00:00:00"))


def test_cron_helpers_and_definition_errors() -> None:
    crons = Crons()
    assert crons.hourly("h", "m:f", minute_utc=7).schedule == {"cron": "7 * * * *"}
    assert crons.daily("d", "m:f", hour_utc=3, minute_utc=15).schedule == {"cron": "15 3 * * *"}
    assert crons.weekly("w", "m:f", day_of_week="friday", hour_utc=9).schedule == {
        "cron": "0 9 * * 5"
    }
    assert crons.monthly("mo", "m:f", day=15).schedule == {"cron": "0 0 15 * *"}
    assert crons.interval("i", "m:f", minutes=2, seconds=30).schedule == {"interval": 150.0}
    with pytest.raises(ValueError, match="defined twice"):
        crons.interval("i", "m:f", seconds=5)
    with pytest.raises(ValueError, match="at least 1 second"):
        crons.interval("zero", "m:f")
    with pytest.raises(CronSyntaxError):
        crons.cron("bad", "nope", "m:f")


def app(crons_source: str) -> dict[str, str]:
    return {
        "tasks.py": """
            import asyncio
            import os
            import time

            from livebase import internal_action, internal_mutation, mutation, query


            @internal_mutation
            def tick(ctx, label: str) -> None:
                ctx.db.insert("ticks", {"label": label, "at": ctx.now})


            @internal_action
            async def slow(ctx, gate: str) -> None:
                await ctx.run_mutation("tasks:tick", {"label": "slow start"})
                # Runs until the test creates the file ``gate`` (a minute at most).
                deadline = time.monotonic() + 60
                while not os.path.exists(gate) and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)


            @query
            def q(ctx) -> int:
                return 1
        """,
        "crons.py": crons_source,
    }


def ticks(live: Live) -> list[str]:
    return [t["label"] for t in live.table("ticks")]


EVERY_MINUTE = """
    from livebase import Crons
    from .tasks import tick

    crons = Crons()
    crons.interval("every minute", tick, {"label": "m"}, minutes=1)
"""


def test_interval_runs_at_deploy_then_every_interval(deploy: Any) -> None:
    clock = FakeRuntime(start_ns=int(at("2026-01-01T10:00:10").timestamp() * 1e9))
    live: Live = deploy(app(EVERY_MINUTE), clock=clock)

    async def main() -> None:
        assert await live.run_due() == 1  # first run at deploy
        assert await live.advance(59) == 0
        assert await live.advance(1) == 1
        assert await live.advance(60) == 1
        assert ticks(live) == ["m", "m", "m"]
        runs = [j for j in live.jobs() if j.get("cron") == "every minute"]
        assert len(runs) == 3 and {r["state"]["kind"] for r in runs} == {"success"}
        rows = {c["name"]: c for c in live.table(CRON_JOBS)}
        assert rows["every minute"]["lastRunId"] == runs[-1]["_id"]

    asyncio.run(main())


HOURLY = """
    from livebase import Crons

    crons = Crons()
    crons.cron("half past", "0,30 * * * *", "tasks:tick", {"label": "h"})
    crons.interval("every 10 min", "tasks:tick", {"label": "i"}, minutes=10)
"""


def test_downtime_gives_one_catch_up_run_not_a_burst(deploy: Any, tmp_path: Path) -> None:
    clock = FakeRuntime(start_ns=int(at("2026-01-01T10:00:10").timestamp() * 1e9))
    data = tmp_path / "data"
    first: Live = deploy(app(HOURLY), clock=clock, data=data)
    asyncio.run(first.run_due())
    assert ticks(first) == ["i"]
    first.deployment.close()
    clock.advance(5 * 3600)  # down for five hours: 10 cron slots and 30 intervals missed
    second: Live = deploy(first.deployment.app_dir, clock=clock, data=data)

    async def resume() -> None:
        assert await second.run_due() == 2  # one catch-up each
        assert sorted(ticks(second)) == ["h", "i", "i"]
        # Back on schedule: 15:00:10 now; next half past is 15:30, next interval 15:10:10.
        assert await second.advance(600) == 1
        # At 15:30:10 both are due once: the interval's 15:20:10 slot was missed (one catch-up).
        assert await second.advance(1200) == 2
        assert sorted(ticks(second)) == ["h", "h", "i", "i", "i", "i"]

    asyncio.run(resume())


SLOW = """
    from livebase import Crons

    crons = Crons()
    crons.interval("slow", "tasks:slow", {"gate": GATE}, seconds=1)
"""


def test_a_run_never_overlaps_the_previous_one(deploy: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    live: Live = deploy(app(SLOW.replace("GATE", repr(str(gate)))))

    async def main() -> None:
        worker = live.deployment.worker
        await worker.tick()  # starts the first run; it lasts until the gate opens
        live.clock.advance(1)
        await worker.tick()  # due again, but the first run is still going
        live.clock.advance(1)
        await worker.tick()
        gate.touch()
        await live.run_due()
        assert ticks(live) == ["slow start"]
        row = live.table(CRON_JOBS)[0]
        assert row["skippedRuns"] == 2
        live.clock.advance(1)
        assert await live.run_due() == 1  # runs again once the previous one is done
        assert ticks(live) == ["slow start", "slow start"]

    asyncio.run(main())


def test_changes_to_crons_apply_on_reload(deploy: Any) -> None:
    live: Live = deploy(app(HOURLY))
    root = live.deployment.app_dir

    async def main() -> None:
        await live.run_due()
        names = sorted(c["name"] for c in live.table(CRON_JOBS))
        assert names == ["every 10 min", "half past"]
        (root / "crons.py").write_text(
            "from livebase import Crons\n"
            "crons = Crons()\n"
            "crons.interval('every 10 min', 'tasks:tick', {'label': 'changed'}, minutes=5)\n"
        )
        live.deployment.reload()
        await live.run_due()  # a changed cron starts afresh: an interval runs at once
        rows = live.table(CRON_JOBS)
        assert [r["name"] for r in rows] == ["every 10 min"]
        assert rows[0]["args"] == {"label": "changed"}
        assert ticks(live)[-1] == "changed"

    asyncio.run(main())


def test_a_cron_targeting_a_missing_function_fails_to_load(deploy: Any) -> None:
    bad = 'from livebase import Crons\ncrons = Crons()\ncrons.hourly("x", "tasks:nope")\n'
    with pytest.raises(AppLoadError, match=r"cron 'x' targets 'tasks:nope'"):
        deploy(app(bad))
    query_target = 'from livebase import Crons\ncrons = Crons()\ncrons.hourly("x", "tasks:q")\n'
    with pytest.raises(AppLoadError, match="which is a query"):
        deploy(app(query_target))
