"""An activity session's status follows the clock: active while events arrive, paused after 5
minutes without one, then completed (the turn had finished) or abandoned (a prompt was left
unanswered) after the gap; the next event then starts a new session."""

from __future__ import annotations

import pytest

from tests.agentfeed_app.payloads import hook
from tests.agentfeed_pipeline.conftest import Feed

CWD = "/home/u/clock"


def _statuses(feed: Feed) -> list[str]:
    return [s["status"] for s in feed.sessions()]


def test_status_follows_the_clock(feed: Feed) -> None:
    now = int(feed.app.now_ms)
    feed.ingest(hook("UserPromptSubmit", "c1", cwd=CWD, ts=now, prompt="add an export button"))
    feed.ingest(hook("Stop", "c1", cwd=CWD, ts=now + 1000))
    feed.app.advance(2)  # the worker wakes a second after the first event
    assert _statuses(feed) == ["active"]
    feed.app.advance(minutes=6)  # the minute cron
    assert _statuses(feed) == ["paused"]
    later = int(feed.app.now_ms)
    feed.ingest(hook("UserPromptSubmit", "c1", cwd=CWD, ts=later, prompt="and a csv option"))
    feed.app.advance(2)
    [session] = feed.sessions()
    assert session["status"] == "active" and session["prompt_count"] == 2
    feed.app.advance(minutes=31)
    [session] = feed.sessions()
    assert session["status"] == "abandoned"  # the second prompt got no answer
    assert session["ended_at"] == later

    feed.ingest(hook("UserPromptSubmit", "c2", cwd=CWD, ts=int(feed.app.now_ms), prompt="next"))
    feed.ingest(hook("Stop", "c2", cwd=CWD, ts=int(feed.app.now_ms) + 1))
    feed.app.advance(2)
    assert _statuses(feed) == ["abandoned", "active"]
    feed.app.advance(minutes=31)
    assert _statuses(feed) == ["abandoned", "completed"]


def test_a_bad_gap_setting_is_named(feed: Feed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFEED_SESSION_GAP_MINUTES", "soon")
    with pytest.raises(Exception, match="AGENTFEED_SESSION_GAP_MINUTES='soon': expected a number"):
        feed.app.mutation("enrichment:tick", {})


def test_a_failed_run_is_woken_again_by_the_cron(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTFEED_SESSION_GAP_MINUTES", "soon")
    feed.ingest(hook("UserPromptSubmit", "w1", cwd=CWD, ts=int(feed.app.now_ms), prompt="x"))
    feed.app.advance(2)  # the run fails on the setting, and a failed job is not retried
    assert len(feed.app.table("enrichment_queue")) == 1
    monkeypatch.delenv("AGENTFEED_SESSION_GAP_MINUTES")
    feed.app.advance(minutes=3)
    assert len(feed.app.table("enrichment_queue")) == 1  # not stalled long enough yet
    feed.app.advance(minutes=3)
    assert feed.app.table("enrichment_queue") == []
    assert [s["prompt_count"] for s in feed.sessions()] == [1]
