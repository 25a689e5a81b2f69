"""The public queries on a real server (a module of its own, so the data is exactly what it
posts): the live feed with each filter and pagination, a session's timeline, active sessions,
projects with their stats and per-day counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.agentfeed_app.conftest import Agentfeed
from tests.agentfeed_app.payloads import hook, now_ms

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

DAY = 86_400_000
ALPHA, BETA = "/home/u/alpha", "/home/u/beta"


def day(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def posted(agentfeed: Agentfeed) -> list[dict[str, Any]]:
    """Three sessions in two projects; one of them yesterday."""
    t = now_ms() - 60_000
    payloads: list[dict[str, Any]] = []

    def add(name: str, session: str, ts: int, cwd: str, **fields: Any) -> None:
        payloads.append(hook(name, session, ts=ts, cwd=cwd, **fields))

    add("SessionStart", "old", t - DAY, BETA, source="startup")
    add("UserPromptSubmit", "old", t - DAY + 1, BETA, prompt="yesterday's work")
    add("SessionEnd", "old", t - DAY + 2, BETA, reason="logout")
    for n in range(12):
        base = t + n * 10
        bash = {"tool_name": "Bash", "tool_input": {"command": f"make {n}"}}
        add("PreToolUse", "a", base, ALPHA, tool_use_id=f"a-{n}", **bash)
        add("PostToolUse", "a", base + 1, ALPHA, tool_use_id=f"a-{n}", **bash)
    add("UserPromptSubmit", "a", t + 500, ALPHA, prompt="Run PYTEST please")
    read = {"tool_name": "Read", "tool_input": {"file_path": f"{BETA}/pytest.ini"}}
    add("PreToolUse", "b", t + 600, BETA, tool_use_id="b-1", **read)
    add("PostToolUseFailure", "b", t + 601, BETA, tool_use_id="b-1", error="not found", **read)
    for payload in payloads:
        assert agentfeed.post(payload)["status"] == "stored"
    return payloads


def feed_all(feed: Agentfeed, page_size: int = 5, **filters: Any) -> list[dict[str, Any]]:
    """Every page of ``events:feed``; checks that pages are disjoint and, without a search
    (whose results come best match first), newest first."""
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        result = feed.query(
            "events:feed", {**filters, "paginationOpts": {"numItems": page_size, "cursor": cursor}}
        )
        assert len(result["page"]) <= page_size
        events += result["page"]
        if result["isDone"]:
            break
        cursor = result["continueCursor"]
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))
    times = [e["timestamp"] for e in events]
    if "search" not in filters:
        assert times == sorted(times, reverse=True)  # newest first
    return events


def ids(payloads: list[dict[str, Any]]) -> set[str]:
    return {p["event_id"] for p in payloads}


def test_feed_filters_and_pagination(agentfeed: Agentfeed, posted: list[dict[str, Any]]) -> None:
    everything = feed_all(agentfeed, page_size=7)
    assert {e["event_id"] for e in everything} == ids(posted)
    assert all("raw" not in e for e in everything)

    alpha = feed_all(agentfeed, project=ALPHA)
    assert {e["event_id"] for e in alpha} == ids(p for p in posted if p["cwd"] == ALPHA)
    session_b = feed_all(agentfeed, session_id="b")
    assert [e["type"] for e in session_b] == ["PostToolUseFailure", "PreToolUse"]
    prompts = feed_all(agentfeed, type="UserPromptSubmit")
    assert [e["prompt"] for e in prompts] == ["Run PYTEST please", "yesterday's work"]
    reads = feed_all(agentfeed, tool="Read")
    assert [(e["type"], e.get("success")) for e in reads] == [
        ("PostToolUseFailure", False),
        ("PreToolUse", None),
    ]

    # A search finds the summaries holding every word, the last as a prefix, in any case.
    found = feed_all(agentfeed, search="pytest")
    assert sorted(e["summary"] for e in found) == sorted(
        [
            "Run PYTEST please",
            f"Read: {BETA}/pytest.ini",
            f"Read: {BETA}/pytest.ini — failed: not found",
        ]
    )
    # A search with filters: the search index applies them.
    combined = feed_all(agentfeed, page_size=3, project=ALPHA, tool="Bash", search="make 1")
    assert sorted(e["summary"] for e in combined) == sorted(
        ["Bash: make 1", "Bash: make 1", "Bash: make 10", "Bash: make 10", "Bash: make 11",
         "Bash: make 11"]
    )  # fmt: skip
    assert feed_all(agentfeed, project="/nowhere") == []


def test_a_scan_page_reads_a_bounded_number_of_rows(
    agentfeed: Agentfeed, posted: list[dict[str, Any]]
) -> None:
    # several filters without a search: the index takes one, a bounded scan the rest
    page = agentfeed.query(
        "events:feed",
        {"tool": "Bash", "type": "Stop", "paginationOpts": {"numItems": 10, "cursor": None,
                                                           "maximumRowsRead": 5}},
    )  # fmt: skip
    assert page["page"] == [] and page["isDone"] is False  # stopped after 5 rows, not the end


def test_session_timeline_is_oldest_first_and_paginated(
    agentfeed: Agentfeed, posted: list[dict[str, Any]]
) -> None:
    events = agentfeed.timeline("a")
    sent = [p for p in posted if p["session_id"] == "a"]
    assert [e["event_id"] for e in events] == [
        p["event_id"] for p in sorted(sent, key=lambda p: p["timestamp"])
    ]
    first = agentfeed.query(
        "events:session_timeline",
        {"session_id": "a", "paginationOpts": {"numItems": 10, "cursor": None}},
    )
    assert len(first["page"]) == 10 and first["isDone"] is False


def test_active_sessions_and_projects_with_stats(
    agentfeed: Agentfeed, posted: list[dict[str, Any]]
) -> None:
    active = agentfeed.query("sessions:active_sessions")
    assert [s["session_id"] for s in active] == ["b", "a"]  # most recently active first
    assert active[1]["event_count"] == 25 and active[1]["tool_count"] == 12

    projects = agentfeed.query("projects:projects_with_stats")
    assert [p["path"] for p in projects] == [BETA, ALPHA]  # most recent event first
    beta, alpha = projects
    assert alpha["name"] == "alpha" and alpha["event_count"] == 25
    assert alpha["session_count"] == 1 and alpha["active_sessions"] == 1
    assert beta["session_count"] == 2 and beta["active_sessions"] == 1
    assert beta["event_count"] == 5 and beta["prompt_count"] == 1 and beta["tool_count"] == 1


def test_daily_counts(agentfeed: Agentfeed, posted: list[dict[str, Any]]) -> None:
    before = datetime.now(UTC).date()
    counts = agentfeed.query("stats:daily_counts", {"days": 3})
    # the server's "today" is the day the query ran: the last day, whichever side of midnight
    today = date.fromisoformat(counts[-1]["day"])
    assert before <= today <= datetime.now(UTC).date()
    assert [c["day"] for c in counts] == [
        (today - timedelta(days=n)).isoformat() for n in (2, 1, 0)
    ]
    by_day = {c["day"]: c for c in counts}
    expected: dict[str, dict[str, float]] = {}
    for p in posted:
        row = expected.setdefault(day(p["timestamp"]), dict.fromkeys(
            ("events", "prompts", "tool_calls", "failures"), 0.0))  # fmt: skip
        row["events"] += 1
        row["prompts"] += p["hook_event_name"] == "UserPromptSubmit"
        row["tool_calls"] += p["hook_event_name"] in ("PostToolUse", "PostToolUseFailure")
        row["failures"] += p["hook_event_name"] == "PostToolUseFailure"
    for key, row in expected.items():
        assert {k: by_day[key][k] for k in row} == row
    assert sum(c["sessions"] for c in counts) == 3
    quiet = [c for c in counts if c["day"] not in expected]
    assert quiet and all(c["events"] == c["sessions"] == 0 for c in quiet)  # there, with zeros

    beta = agentfeed.query("stats:daily_counts", {"days": 2, "project": BETA})
    window = {c["day"] for c in beta}
    assert len(window) == 2
    # a session counts on the day of its first event; all of beta's fall in the window unless
    # the fixture posted just before midnight and this query ran after it
    in_window = [p for p in posted if p["cwd"] == BETA and day(p["timestamp"]) in window]
    first_day: dict[str, str] = {}
    for p in posted:
        if p["cwd"] == BETA:
            first_day.setdefault(p["session_id"], day(p["timestamp"]))
    started = [d for d in first_day.values() if d in window]
    assert len(in_window) >= 2  # today's session "b" is always there
    assert sum(c["events"] for c in beta) == len(in_window)
    assert sum(c["sessions"] for c in beta) == len(started)
