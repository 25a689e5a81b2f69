"""The fake clock, scheduled functions and crons: nothing runs until the test moves time, and
then every job runs at its own time."""

from __future__ import annotations

import pytest

from livebase.testing import AppHarness
from livebase.testing.harness import DEFAULT_START_MS

START = DEFAULT_START_MS


def test_the_clock_stands_still_until_advanced(livebase_app: AppHarness) -> None:
    t = livebase_app
    assert t.now_ms == START
    assert t.query("notes:now") == START
    t.mutation("messages:send", {"channel": "c", "body": "x"})
    assert t.table("messages")[0]["_creationTime"] == START
    t.advance(seconds=1.5)
    assert t.query("notes:now") == START + 1500
    t.advance(minutes=1, hours=1, days=0.01)
    assert t.now_ms == START + 1500 + (60 + 3600 + 864) * 1000
    with pytest.raises(ValueError, match="forward"):
        t.advance(-1)


def test_a_scheduled_function_runs_when_its_time_comes(livebase_app: AppHarness) -> None:
    t = livebase_app
    t.mutation("notes:remind", {"text": "later", "seconds": 30})
    (job,) = t.scheduled("notes:write")
    assert job["args"] == [{"text": "later"}]
    assert job["scheduledTime"] == START + 30_000 and job["state"]["kind"] == "pending"

    t.advance(seconds=29)
    assert t.query("notes:texts") == []
    t.advance(seconds=1)
    assert [(n["text"], n["at"]) for n in t.table("notes")] == [("later", START + 30_000)]
    assert [j["state"]["kind"] for j in t.scheduled("notes:write")] == ["success"]
    assert len(t.scheduled("ticks:tick", state="success")) == 1  # the cron's first run


def test_jobs_scheduled_by_jobs_run_at_their_own_times(livebase_app: AppHarness) -> None:
    t = livebase_app
    t.mutation("notes:chain", {"text": "hop", "hops": 3, "seconds": 10})
    ran = t.advance(seconds=25)  # hops at +10 and +20; the third is due at +30
    notes = t.table("notes")
    assert [(n["text"], n["at"]) for n in notes] == [
        ("hop 3", START + 10_000),
        ("hop 2", START + 20_000),
    ]
    assert ran == 2 + 1  # and the cron's first run, at the start
    assert t.now_ms == START + 25_000
    assert t.finish_scheduled() == 1
    assert t.query("notes:texts") == ["hop 3", "hop 2", "hop 1"]
    assert t.now_ms == START + 30_000
    assert t.scheduled(state="pending") == []


def test_crons_run_every_interval(livebase_app: AppHarness) -> None:
    t = livebase_app
    assert t.advance() == 1  # an interval cron first runs when the app starts
    assert t.advance(minutes=5) == 5
    assert t.query("ticks:times") == [START + m * 60_000 for m in range(6)]
    assert t.advance(seconds=59) == 0
    assert t.advance(seconds=1) == 1


def test_actions_schedule_on_the_fake_clock(livebase_app: AppHarness) -> None:
    t = livebase_app
    t.action("agent:post", {"channel": "c", "body": "b"})
    (job,) = t.scheduled(state="pending")
    assert job["scheduledTime"] == START + 10_000
    t.advance(seconds=10)
    assert t.query("notes:texts") == ["posted b"]


def test_finish_scheduled_stops_a_job_that_never_ends(livebase_app: AppHarness) -> None:
    t = livebase_app
    t.advance()
    t.run(lambda ctx: ctx.scheduler.run_after(1, "notes:forever", {}))
    with pytest.raises(RuntimeError, match="max_jobs=20"):
        t.finish_scheduled(max_jobs=20)
