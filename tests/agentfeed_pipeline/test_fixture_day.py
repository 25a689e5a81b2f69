"""The proof of the grouping: a fixture day of hook events, stored through ``events:ingest``,
goes through the enrichment queue (a trigger, same transaction) and the scheduled worker into
the expected activity sessions, with their intents, confidences and statuses."""

from __future__ import annotations

from tests.agentfeed_app.payloads import hook
from tests.agentfeed_pipeline.conftest import Feed
from tests.agentfeed_pipeline.fixture_day import EXPECTED, SHOP, at, day


def test_a_fixture_day_is_grouped_into_the_expected_sessions(feed: Feed) -> None:
    events = day()
    for payload in events:
        feed.ingest(payload)
    queued = feed.app.table("enrichment_queue")
    assert sorted(row["event_id"] for row in queued) == sorted(e["event_id"] for e in events)
    assert {row["stage"] for row in queued} == {"sessions"}

    feed.enrich()
    sessions = feed.sessions()
    found = [
        (s["project"], s.get("branch"), s["started_at"], s["last_at"], s["status"])
        for s in sessions
    ]
    wanted = [(p, b, at(first), at(last), status) for p, b, first, last, status, _, _ in EXPECTED]
    # the last event of a stretch may be a tool call's PostToolUse, one second after its start
    assert [(p, b, first, status) for p, b, first, _, status in found] == [
        (p, b, first, status) for p, b, first, _, status in wanted
    ]
    for (*_, last, _), (*_, wanted_last, _) in zip(found, wanted, strict=True):
        assert wanted_last <= last <= wanted_last + 1000
    for session, (*_, intent, needs_validation) in zip(sessions, EXPECTED, strict=True):
        assert session["guessed_intent"].startswith(intent), session["guessed_intent"]
        assert session["needs_validation"] is needs_validation, session
        assert (session["confidence"] < 0.5) is needs_validation
        assert session["intent_source"] == "heuristic"
    assert sum(s["event_count"] for s in sessions) == len(events) - 1  # the late SessionEnd
    assert sessions[0]["tools"][0] == {"name": "Bash", "count": 2.0}
    assert f"{sessions[0]['project']}/shop/cart.py" in sessions[0]["files"]


def test_the_owner_lists_sessions_and_the_public_gets_none(feed: Feed) -> None:
    for payload in day():
        feed.ingest(payload)
    feed.enrich()
    listed = feed.owner.query("activity:sessions", {})
    assert listed["owner"] is True and len(listed["sessions"]) == len(EXPECTED)
    assert listed["sessions"][0]["started_at"] == at("15:00")  # the latest first
    flagged = feed.owner.query("activity:sessions", {"needs_validation": True})["sessions"]
    assert [s["guessed_intent"] for s in flagged] == ["Unclear: hmm ok continue"]
    abandoned = feed.owner.query("activity:sessions", {"status": "abandoned"})["sessions"]
    assert [s["branch"] for s in abandoned] == ["main"]
    assert feed.app.anonymous.query("activity:sessions", {}) == {"owner": False, "sessions": []}


def test_late_and_backfilled_events_join_the_session_of_their_time(feed: Feed) -> None:
    for payload in day():
        feed.ingest(payload)
    feed.enrich()
    before = feed.sessions()
    # a hook event spooled while offline, delivered in the afternoon: the morning's fix
    read = {"tool_name": "Read", "tool_input": {"file_path": f"{SHOP}/shop/totals.py"}}
    late = hook("PostToolUse", "day-shop-morning", cwd=SHOP, ts=at("09:12"), **read)
    # an imported transcript line from before the day's work: a session of its own
    early = hook(
        "UserPromptSubmit", "day-shop-early", cwd=SHOP, ts=at("07:00"), prompt="fix flaky sync"
    )
    feed.ingest(late)
    feed.ingest(early)
    feed.enrich()
    after = feed.sessions()
    assert len(after) == len(before) + 1
    assert after[0]["started_at"] == at("07:00") and after[0]["status"] == "abandoned"
    morning = after[1]
    assert morning["started_at"] == at("09:00")
    assert morning["event_count"] == before[0]["event_count"] + 1
    assert f"{SHOP}/shop/totals.py" in morning["files"]
    assert morning["status"] == "completed"  # reopened by the late event, then ended again
    assert [s["event_count"] for s in after[2:]] == [s["event_count"] for s in before[1:]]
